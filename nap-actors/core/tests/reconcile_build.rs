//! Reconcile of `build:` services: a build-only service runs `<project>-<service>`, its image
//! is built once on the builder host and shipped only to the other hosts that run it; an
//! unchanged context builds nothing, a changed one builds once and recreates the replicas;
//! `--build` always builds, `--no-build` fetches the image as any other.

use std::path::{Path, PathBuf};

use expect_test::expect;
use nap_core::compose::{LoadOptions, MemoryFileSystem, Project, load_with};
use nap_core::inventory::Inventory;
use nap_core::plan::{
    BuildPolicy, DesiredState, ObservedContainer, ObservedImage, ObservedState, ReconcileOptions,
    desired_state, reconcile,
};
use nap_core::scheduler::DefaultPolicy;

const COMPOSE: &str = "name: shop
services:
  web:
    build: ./web
    deploy: {replicas: 2}
  db:
    image: postgres:16
";

/// Three remote hosts, the second marked as the builder.
const HOSTS: &str = "hosts:
  h1: {docker: tcp://10.210.0.11:2375}
  h2: {docker: tcp://10.210.0.12:2375, builder: true}
  h3: {docker: tcp://10.210.0.13:2375}
network: {mode: published}
";

fn project(context_hash: &str) -> Project {
    let fs = MemoryFileSystem::default().with("/p/compose.yaml", COMPOSE);
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        ..LoadOptions::default()
    };
    let mut project = load_with(&options, &fs).unwrap().project;
    project
        .services
        .get_mut("web")
        .unwrap()
        .build
        .as_mut()
        .unwrap()
        .context_hash = Some(context_hash.to_string());
    project
}

fn desired(project: &Project, observed: &ObservedState) -> DesiredState {
    let inventory = Inventory::parse(Path::new("/inv/nap-hosts.yml"), HOSTS)
        .unwrap()
        .0;
    desired_state(project, &inventory, observed, &mut DefaultPolicy).unwrap()
}

/// What the hosts hold after `desired` was deployed, the builder holding the image too.
fn deployed(desired: &DesiredState) -> ObservedState {
    let mut observed = ObservedState::default();
    for container in &desired.containers {
        observed.containers.push(ObservedContainer {
            host: container.host.clone(),
            id: format!("id-{}", container.name),
            name: container.name.clone(),
            service: container.service.clone(),
            replica: container.replica,
            config_hash: container.config_hash.clone(),
            state: "running".into(),
            exit_code: None,
            addresses: Default::default(),
            image: container.image.clone(),
            hosts_file: container.hosts_file.clone(),
        });
    }
    let mut images: Vec<(String, String)> = desired
        .containers
        .iter()
        .map(|container| (container.host.clone(), container.image.clone()))
        .collect();
    for build in &desired.builds {
        images.push((build.host.clone(), build.image.clone()));
    }
    for (host, image) in images {
        let build = desired.builds.iter().find(|build| build.image == image);
        observed.images.insert((host.clone(), image.clone()));
        observed.image_details.insert(
            (host, image.clone()),
            ObservedImage {
                id: format!("sha256:{image}"),
                build_hash: build.and_then(|build| build.context_hash.clone()),
            },
        );
    }
    for network in &desired.networks {
        observed.networks.push(nap_core::plan::ObservedNetwork {
            host: network.host.clone(),
            name: network.name.clone(),
            subnet: network.subnet,
            gateway: None,
            project: Some(desired.project.clone()),
        });
    }
    observed.volumes = desired.volumes.clone();
    observed
}

fn image_lines(text: &str) -> String {
    text.lines()
        .filter(|line| line.contains(" image "))
        .map(|line| format!("{}\n", line.trim()))
        .collect()
}

#[test]
fn a_build_only_service_is_built_once_and_shipped_only_where_it_runs() {
    let project = project("hash-1");
    let desired = desired(&project, &ObservedState::default());
    assert!(
        desired
            .containers
            .iter()
            .filter(|c| c.service == "web")
            .all(|c| c.image == "shop-web"),
        "Compose's name for a build-only service"
    );
    let plan = reconcile(
        &desired,
        &ObservedState::default(),
        ReconcileOptions::default(),
    );
    let text = plan.to_text();
    assert!(
        !text.contains("ensure image \n") && !text.contains("ensure image  "),
        "{text}"
    );
    let web_hosts: Vec<&str> = desired
        .containers
        .iter()
        .filter(|c| c.service == "web")
        .map(|c| c.host.as_str())
        .collect();
    assert_eq!(web_hosts, ["h2", "h3"], "{text}");
    expect![[r#"
        #4   h2       build image shop-web of service web (not built yet)
        #5   h3       ship image shop-web from h2  after #4
        #6   h1       ensure image postgres:16
    "#]]
    .assert_eq(&image_lines(&text));
    // Each replica's create waits for the shipment to its host.
    for planned in &plan.operations {
        if let nap_core::plan::Operation::CreateContainer { host, service, .. } = &planned.operation
            && service == "web"
        {
            // h2 builds it (#4); h3 gets it shipped (#5); h1 runs no replica and gets nothing.
            let image_op = if host == "h2" { 4 } else { 5 };
            assert!(planned.after.contains(&image_op), "{text}");
        }
    }
}

#[test]
fn an_unchanged_context_builds_nothing_and_a_changed_one_builds_once() {
    let first = desired(&project("hash-1"), &ObservedState::default());
    let observed = deployed(&first);
    let again = desired(&project("hash-1"), &observed);
    let plan = reconcile(&again, &observed, ReconcileOptions::default());
    assert!(plan.is_empty(), "{}", plan.to_text());

    let changed = desired(&project("hash-2"), &observed);
    let plan = reconcile(&changed, &observed, ReconcileOptions::default());
    let text = plan.to_text();
    expect![[r#"
        #1   h2       build image shop-web of service web (context changed)
        #2   h3       ship image shop-web from h2  after #1
    "#]]
    .assert_eq(&image_lines(&text));
    assert_eq!(
        text.matches("create container shop-web-").count(),
        2,
        "both replicas recreated: {text}"
    );
}

#[test]
fn build_and_no_build_as_up_spells_them() {
    let first = desired(&project("hash-1"), &ObservedState::default());
    let observed = deployed(&first);
    let again = desired(&project("hash-1"), &observed);
    let always = ReconcileOptions {
        build: BuildPolicy::Always,
        ..ReconcileOptions::default()
    };
    expect![[r#"
        #1   h2       build image shop-web of service web (--build)
    "#]]
    .assert_eq(&image_lines(
        &reconcile(&again, &observed, always).to_text(),
    ));

    let never = ReconcileOptions {
        build: BuildPolicy::Never,
        ..ReconcileOptions::default()
    };
    let fresh = reconcile(&first, &ObservedState::default(), never).to_text();
    assert!(!fresh.contains("build image"), "{fresh}");
    assert!(fresh.contains("h3       ensure image shop-web"), "{fresh}");
}

#[test]
fn a_new_replica_gets_the_built_image_without_a_build() {
    let first = desired(&project("hash-1"), &ObservedState::default());
    let mut observed = deployed(&first);
    // The replica on h3 is gone, and h3 holds an older build.
    observed
        .containers
        .retain(|c| !(c.service == "web" && c.host == "h3"));
    observed.image_details.insert(
        ("h3".into(), "shop-web".into()),
        ObservedImage {
            id: "sha256:old".into(),
            build_hash: Some("hash-0".into()),
        },
    );
    let again = desired(&project("hash-1"), &observed);
    let plan = reconcile(&again, &observed, ReconcileOptions::default());
    expect![[r#"
        #1   h3       ship image shop-web from h2
    "#]]
    .assert_eq(&image_lines(&plan.to_text()));
}
