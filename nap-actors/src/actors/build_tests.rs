//! In-process tests of building and shipping over the recording fakes: the builder host
//! builds once from a context `.dockerignore` trims (the tar it receives shows it), with the
//! build hash label and the builder's output on the progress; the image is shipped to the
//! other host with the builder's image ID, replacing an older build there, and a second
//! shipment copies nothing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use nap_core::build::LABEL_BUILD_HASH;
use nap_core::compose::{Build, Project, Service};
use nap_core::inventory::Inventory;
use nap_core::plan::{Operation, Plan, PlannedOperation};

use crate::actors::coordinator::{CoordinatorActor, ExecutionReport, Executors};
use crate::actors::host::fake_shell::FakeShell;
use crate::actors::host::{HostActor, ImageSource};
use crate::docker::fake::FakeDocker;
use crate::progress::{Event, Progress};

const INVENTORY: &str = "hosts:
  h1: {docker: tcp://10.0.0.1:2375, builder: true}
  h2: {docker: tcp://10.0.0.2:2375}
network: {mode: published}
";

fn project(context: &Path) -> Project {
    let web = Service {
        build: Some(Build {
            context: Some(context.to_string_lossy().into_owned()),
            ..Build::default()
        }),
        ..Service::default()
    };
    Project {
        name: "p".into(),
        services: [("web".to_string(), web)].into(),
        working_dir: context.to_path_buf(),
        ..Project::default()
    }
}

fn planned(id: usize, operation: Operation, after: &[usize]) -> PlannedOperation {
    PlannedOperation {
        id,
        operation,
        after: after.to_vec(),
    }
}

/// Runs `operations` on h1 and h2 over `dockers`; the report and the progress events.
async fn run(
    project: &Project,
    dockers: &[(&str, &FakeDocker)],
    operations: Vec<PlannedOperation>,
) -> (ExecutionReport, Vec<Event>) {
    let inventory = Inventory::parse(Path::new("/inv/nap-hosts.yml"), INVENTORY)
        .unwrap()
        .0;
    let mut hosts = HashMap::new();
    let mut image_sources = Vec::new();
    for (name, docker) in dockers {
        let host = inventory.host(name).unwrap().clone();
        let shell = FakeShell::new(name);
        hosts.insert(
            name.to_string(),
            HostActor::new(host, "p", docker.shared(), shell.shared()).start(),
        );
        image_sources.push(ImageSource {
            name: name.to_string(),
            docker: docker.shared(),
            trusted: false,
        });
    }
    let progress = Progress::recording();
    let executors = Executors {
        project: Arc::new(project.clone()),
        desired: None,
        hosts,
        services: HashMap::new(),
        stop_timeout: None,
        image_sources,
        ship_images: false,
        build_flags: Default::default(),
        wait_timeout: Duration::from_secs(5),
        remove_volumes: false,
        progress: progress.clone(),
    };
    let plan = Plan {
        project: "p".into(),
        placements: Vec::new(),
        operations,
        notes: Vec::new(),
    };
    let (coordinator, report) = CoordinatorActor::new(plan, executors);
    coordinator.start();
    let report = tokio::time::timeout(Duration::from_secs(5), report)
        .await
        .expect("the plan ends")
        .expect("a report");
    (report, progress.events())
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    tar::Archive::new(bytes)
        .entries()
        .unwrap()
        .map(|entry| {
            entry
                .unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[actix::test]
async fn built_once_on_the_builder_then_shipped_by_image_id() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY . /\n").unwrap();
    std::fs::write(dir.path().join(".dockerignore"), "secret.txt\n").unwrap();
    std::fs::write(dir.path().join("app.txt"), "hello\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "hunter2\n").unwrap();
    let project = project(dir.path());
    let (h1, h2) = (FakeDocker::new(), FakeDocker::new());
    h2.add_image("p-web", "sha256:an-older-build");
    let build = Operation::BuildImage {
        host: "h1".into(),
        service: "web".into(),
        image: "p-web".into(),
        reason: "not built yet".into(),
    };
    let ship = Operation::ShipImage {
        host: "h2".into(),
        image: "p-web".into(),
        from: "h1".into(),
    };
    let (report, events) = run(
        &project,
        &[("h1", &h1), ("h2", &h2)],
        vec![planned(1, build, &[]), planned(2, ship.clone(), &[1])],
    )
    .await;
    assert!(report.is_success(), "{report:?}");
    let builds = h1.builds();
    assert_eq!(builds.len(), 1, "built once");
    let (request, tar) = &builds[0];
    assert_eq!(request.tags, ["p-web"]);
    assert_eq!(request.dockerfile, "Dockerfile");
    let hash = crate::build::read_context(
        "web",
        project.services["web"].build.as_ref().unwrap(),
        dir.path(),
    )
    .unwrap()
    .hash;
    assert_eq!(request.labels.get(LABEL_BUILD_HASH), Some(&hash));
    assert_eq!(tar_names(tar), [".dockerignore", "Dockerfile", "app.txt"]);
    assert!(events.iter().any(|event| matches!(event,
        Event::BuildOutput { service, host, line } if service == "web" && host == "h1" && line.starts_with("Step 1/1"))));
    let built_id = h1.image_id("p-web").unwrap();
    assert_eq!(
        h2.image_id("p-web"),
        Some(built_id),
        "the older build was replaced"
    );
    assert!(
        h2.calls().iter().any(|call| call == "import_image p-web"),
        "{:?}",
        h2.calls()
    );

    // Shipping again finds the same ID there and copies nothing.
    let before = h2.calls().len();
    let (report, _) = run(
        &project,
        &[("h1", &h1), ("h2", &h2)],
        vec![planned(1, ship, &[])],
    )
    .await;
    assert!(report.is_success());
    assert!(
        !h2.calls()[before..]
            .iter()
            .any(|call| call.starts_with("import_image")),
        "{:?}",
        &h2.calls()[before..]
    );
    assert_eq!(h1.builds().len(), 1, "shipping builds nothing");
}
