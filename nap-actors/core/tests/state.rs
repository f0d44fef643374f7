//! Data safety in the desired state: a replica with state (a named volume, a writable bind
//! mount) is placed on the host that holds it, a change that would move it is refused with
//! the service, the volume, both hosts and the command that moves it, and replicas of one
//! service each have their own volume.

use std::path::{Path, PathBuf};

use nap_core::compose::{LoadOptions, MemoryFileSystem, Project, load_with};
use nap_core::inventory::Inventory;
use nap_core::plan::{
    DesiredState, ObservedContainer, ObservedState, PlanError, desired_state, replica_volume,
};
use nap_core::scheduler::DefaultPolicy;

const HOSTS: &str = "\
hosts:
  h1:
    docker: tcp://10.0.0.1:2375
    labels: {role: db}
  h2:
    docker: tcp://10.0.0.2:2375
    labels: {role: web}
network:
  mode: published
";

const RELABELLED: &str = "\
hosts:
  h1:
    docker: tcp://10.0.0.1:2375
    labels: {role: web}
  h2:
    docker: tcp://10.0.0.2:2375
    labels: {role: db}
network:
  mode: published
";

const DB: &str = "\
name: demo
services:
  db:
    image: postgres:16
    volumes: [data:/var/lib/postgresql/data]
    deploy:
      placement:
        constraints: [node.labels.role==db]
volumes:
  data: {}
";

fn project(compose: &str) -> Project {
    let fs = MemoryFileSystem::default().with("/p/compose.yaml", compose);
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        ..LoadOptions::default()
    };
    load_with(&options, &fs)
        .unwrap_or_else(|error| panic!("cannot load the test project: {error}"))
        .project
}

fn inventory(text: &str) -> Inventory {
    Inventory::parse(Path::new("/inv/nap-hosts.yml"), text)
        .unwrap_or_else(|error| panic!("cannot parse the test inventory: {error}"))
        .0
}

fn plan(
    project: &Project,
    hosts: &str,
    observed: &ObservedState,
) -> Result<DesiredState, PlanError> {
    desired_state(project, &inventory(hosts), observed, &mut DefaultPolicy)
}

/// What the hosts hold after `desired` was deployed: its containers running, its volumes.
fn deployed(desired: &DesiredState) -> ObservedState {
    ObservedState {
        containers: desired
            .containers
            .iter()
            .map(|container| ObservedContainer {
                host: container.host.clone(),
                id: format!("id-{}", container.name),
                name: container.name.clone(),
                service: container.service.clone(),
                replica: container.replica,
                config_hash: container.config_hash.clone(),
                state: "running".to_string(),
                exit_code: None,
                addresses: Default::default(),
                image: container.image.clone(),
                hosts_file: container.hosts_file.clone(),
            })
            .collect(),
        volumes: desired.volumes.clone(),
        project_volumes: desired.volumes.clone(),
        ..ObservedState::default()
    }
}

fn hosts_of(desired: &DesiredState) -> Vec<(String, String)> {
    desired
        .containers
        .iter()
        .map(|container| (container.name.clone(), container.host.clone()))
        .collect()
}

#[test]
fn a_constraint_that_would_leave_the_volume_behind_is_refused_naming_service_volume_and_hosts() {
    let project = project(DB);
    let first = plan(&project, HOSTS, &ObservedState::default()).expect("plans");
    assert_eq!(hosts_of(&first), [("demo-db-1".into(), "h1".into())]);
    let observed = deployed(&first);

    let error = plan(&project, RELABELLED, &observed).unwrap_err();
    assert!(
        matches!(error, PlanError::StateWouldMove { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    for needle in [
        "service \"db\" replica 1",
        "volume demo_data is on host h1",
        "would move to host h2",
        "`nap volume move db:data --to h2`",
        "--move-volumes",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text:?}");
    }
}

#[test]
fn a_volume_left_on_a_host_brings_its_replica_back_there() {
    // After `down` without -v: no container, the volume still on h2. Spread would pick h1.
    let project = project(&DB.replace(
        "    deploy:\n      placement:\n        constraints: [node.labels.role==db]\n",
        "",
    ));
    let observed = ObservedState {
        volumes: [("h2".to_string(), "demo_data".to_string())].into(),
        ..ObservedState::default()
    };
    let desired = plan(&project, HOSTS, &observed).expect("plans");
    assert_eq!(hosts_of(&desired), [("demo-db-1".into(), "h2".into())]);
    let fresh = plan(&project, HOSTS, &ObservedState::default()).expect("plans");
    assert_eq!(hosts_of(&fresh), [("demo-db-1".into(), "h1".into())]);
}

#[test]
fn each_replica_has_its_own_volume_on_its_own_host() {
    let compose = "\
name: demo
services:
  db:
    image: postgres:16
    volumes: [data:/var/lib/postgresql/data, shared:/shared]
    deploy:
      replicas: 3
volumes:
  data: {}
  shared:
    external: true
    name: team-shared
";
    let project = project(compose);
    let desired = plan(&project, HOSTS, &ObservedState::default()).expect("plans");
    let volumes: Vec<(String, String)> = desired.volumes.iter().cloned().collect();
    assert_eq!(
        volumes,
        [
            ("h1".to_string(), "demo_data".to_string()),
            ("h1".to_string(), "demo_data-3".to_string()),
            ("h2".to_string(), "demo_data-2".to_string()),
        ]
    );
    assert_eq!(
        replica_volume(&project, "data", 2).as_deref(),
        Some("demo_data-2")
    );
    // An external volume is the user's: shared by name, never renamed or pinned.
    assert_eq!(replica_volume(&project, "shared", 2), None);

    // Replanned against that deployment: every replica stays with its volume.
    let again = plan(&project, HOSTS, &deployed(&desired)).expect("replans");
    assert_eq!(hosts_of(&again), hosts_of(&desired));
}

#[test]
fn scaling_up_keeps_the_first_replicas_volume() {
    let project_one = project(&DB.replace("role==db]", "role==db]\n      replicas: 1"));
    let first = plan(&project_one, HOSTS, &ObservedState::default()).expect("plans");
    let project_two = project(
        &DB.replace("    deploy:\n", "    deploy:\n      replicas: 2\n")
            .replace("[node.labels.role==db]", "[]"),
    );
    let second = plan(&project_two, HOSTS, &deployed(&first)).expect("plans");
    assert!(
        second
            .volumes
            .contains(&("h1".to_string(), "demo_data".to_string()))
    );
    assert_eq!(
        hosts_of(&second),
        [
            ("demo-db-1".into(), "h1".into()),
            ("demo-db-2".into(), "h2".into())
        ]
    );
}

#[test]
fn a_writable_bind_mount_keeps_its_replica_on_its_host_and_a_read_only_one_does_not() {
    let writable = "\
name: demo
services:
  files:
    image: nginx:1.27
    volumes: ['/srv/files:/data']
    deploy:
      placement:
        constraints: [node.labels.role==db]
";
    let project_rw = project(writable);
    let first = plan(&project_rw, HOSTS, &ObservedState::default()).expect("plans");
    let error = plan(&project_rw, RELABELLED, &deployed(&first)).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("bind mount /srv/files is on host h1"),
        "{text}"
    );
    assert!(text.contains("copy /srv/files from h1 to h2"), "{text}");

    let project_ro = project(&writable.replace("/data'", "/data:ro'"));
    let moved = plan(&project_ro, RELABELLED, &deployed(&first)).expect("plans");
    assert_eq!(hosts_of(&moved), [("demo-files-1".into(), "h2".into())]);

    let socket = writable.replace(
        "/srv/files:/data",
        "/var/run/docker.sock:/var/run/docker.sock",
    );
    let project_socket = project(&socket);
    let moved = plan(&project_socket, RELABELLED, &deployed(&first)).expect("plans");
    assert_eq!(hosts_of(&moved), [("demo-files-1".into(), "h2".into())]);
}

#[test]
fn one_replicas_state_on_two_hosts_is_refused() {
    let compose = "\
name: demo
services:
  db:
    image: postgres:16
    volumes: [data:/data, logs:/logs]
volumes:
  data: {}
  logs: {}
";
    let observed = ObservedState {
        volumes: [
            ("h1".to_string(), "demo_data".to_string()),
            ("h2".to_string(), "demo_logs".to_string()),
        ]
        .into(),
        ..ObservedState::default()
    };
    let error = plan(&project(compose), HOSTS, &observed).unwrap_err();
    assert!(matches!(error, PlanError::StateSplit { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("volume demo_data is on host h1"), "{text}");
    assert!(text.contains("volume demo_logs is on host h2"), "{text}");
}
