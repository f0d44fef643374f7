//! In-process tests of the actors over the recording fakes (`docker::fake::FakeDocker`,
//! `host::fake_shell::FakeShell`): the coordinator's failure handling, the host actor's
//! hosts-file writes (one per host, over SSH or through a helper container, in place, from
//! nap's data only), the service actor's rollout decisions, and the host actor's routes, each in milliseconds without Docker, SSH or the lab. The lab tests stay the end-to-end truth; these pin the actors'
//! logic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use nap_core::compose::{LoadOptions, MemoryFileSystem, Project, load_with};
use nap_core::inventory::Inventory;
use nap_core::plan::{
    DesiredState, FailureAction, ObservedState, Operation, Plan, PlannedOperation, RolloutPolicy,
    desired_state,
};
use nap_core::scheduler::DefaultPolicy;

use crate::actors::coordinator::{CoordinatorActor, ExecutionReport, Executors};
use crate::actors::host::fake_shell::{FakeShell, ShellCall};
use crate::actors::host::{HostActor, HostErrorKind};
use crate::actors::service::{ReplaceReplica, ServiceActor};
use crate::docker::fake::FakeDocker;
use crate::progress::Progress;

/// One host with SSH, one without.
const INVENTORY: &str = "\
hosts:
  h1:
    docker: tcp://10.0.0.1:2375
    ssh: root@10.0.0.1
  h2:
    docker: tcp://10.0.0.2:2375
network:
  mode: published
";

fn inventory() -> Inventory {
    match Inventory::parse(Path::new("/inv/nap-hosts.yml"), INVENTORY) {
        Ok((inventory, _)) => inventory,
        Err(error) => panic!("cannot parse the test inventory: {error}"),
    }
}

/// The project of `/p/compose.yaml` holding `compose` (its name is `p`).
fn project(compose: &str) -> Project {
    let fs = MemoryFileSystem::default().with("/p/compose.yaml", compose);
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        ..LoadOptions::default()
    };
    match load_with(&options, &fs) {
        Ok(loaded) => loaded.project,
        Err(error) => panic!("cannot load the test project: {error}"),
    }
}

fn desired(project: &Project, inventory: &Inventory) -> DesiredState {
    desired_state(
        project,
        inventory,
        &ObservedState::default(),
        &mut DefaultPolicy,
    )
    .unwrap_or_else(|error| panic!("desired_state failed: {error}"))
}

/// A host actor for inventory host `name` over the fakes, started.
fn host_actor(name: &str, docker: &FakeDocker, shell: &FakeShell) -> HostActor {
    let host = inventory().host(name).expect("a test host").clone();
    HostActor::new(host, "p", docker.shared(), shell.shared())
}

fn cidr(text: &str) -> nap_core::inventory::Ipv4Cidr {
    nap_core::inventory::Ipv4Cidr::parse(text).unwrap()
}

fn planned(id: usize, operation: Operation, after: &[usize]) -> PlannedOperation {
    PlannedOperation {
        id,
        operation,
        after: after.to_vec(),
    }
}

/// Runs `plan` with the coordinator and one host actor, `h1`, over the fakes; its report
/// (within 5 s).
async fn run_on_h1(
    plan: Plan,
    docker: &FakeDocker,
    shell: &FakeShell,
    stop_timeout: Option<i32>,
) -> ExecutionReport {
    let hosts = HashMap::from([("h1".to_string(), host_actor("h1", docker, shell).start())]);
    let progress = Progress::recording();
    let executors = Executors {
        project: Arc::new(Project::default()),
        desired: None,
        hosts,
        services: HashMap::new(),
        stop_timeout,
        image_sources: Vec::new(),
        ship_images: false,
        build_flags: Default::default(),
        wait_timeout: Duration::from_secs(5),
        remove_volumes: false,
        progress,
    };
    let (coordinator, report) = CoordinatorActor::new(plan, executors);
    coordinator.start();
    tokio::time::timeout(Duration::from_secs(5), report)
        .await
        .expect("the report arrives")
        .expect("the coordinator reports")
}

#[actix::test]
async fn a_removal_gives_the_container_the_stop_timeout_asked_for() {
    let docker = FakeDocker::new();
    let shell = FakeShell::new("h1");
    docker.add_container("p-web-1", Default::default(), true);
    let plan = Plan {
        project: "p".to_string(),
        placements: Vec::new(),
        operations: vec![planned(
            1,
            Operation::RemoveContainer {
                host: "h1".to_string(),
                container: "p-web-1".to_string(),
                id: String::new(),
                reason: "down".to_string(),
            },
            &[],
        )],
        notes: Vec::new(),
    };
    let report = run_on_h1(plan, &docker, &shell, Some(1)).await;
    assert_eq!(report.succeeded, 1, "{report:?}");
    assert_eq!(docker.stop_timeouts(), [("p-web-1".to_string(), Some(1))]);
}

#[actix::test]
async fn a_failed_operation_skips_what_waits_for_it_and_the_rest_still_runs() {
    let docker = FakeDocker::new();
    let shell = FakeShell::new("h1");
    // Two networks exist; removing the first fails.
    for network in ["p_front", "p_back"] {
        let request = bollard::models::NetworkCreateRequest {
            name: network.to_string(),
            ..Default::default()
        };
        crate::docker::DockerApi::create_network(&docker, request)
            .await
            .unwrap();
    }
    docker.fail("remove_network", "p_front", 500, 1);
    let host = |name: &str| name.to_string();
    let plan = Plan {
        project: "p".to_string(),
        placements: Vec::new(),
        operations: vec![
            // 1 fails; 2 waits for it, 3 for 2 (skipped too, though not directly); 4 and 5
            // wait for nothing that fails.
            planned(
                1,
                Operation::RemoveNetwork {
                    host: host("h1"),
                    name: "p_front".to_string(),
                },
                &[],
            ),
            planned(
                2,
                Operation::RemoveVolume {
                    host: host("h1"),
                    name: "p_data".to_string(),
                },
                &[1],
            ),
            planned(
                3,
                Operation::RemoveContainer {
                    host: host("h1"),
                    container: "p-web-1".to_string(),
                    id: String::new(),
                    reason: "orphan".to_string(),
                },
                &[2],
            ),
            planned(
                4,
                Operation::RemoveNetwork {
                    host: host("h1"),
                    name: "p_back".to_string(),
                },
                &[],
            ),
            planned(
                5,
                Operation::RemoveContainer {
                    host: host("h1"),
                    container: "p-db-1".to_string(),
                    id: String::new(),
                    reason: "orphan".to_string(),
                },
                &[4],
            ),
        ],
        notes: Vec::new(),
    };
    let report = run_on_h1(plan, &docker, &shell, None).await;

    let failed: Vec<usize> = report.failed.iter().map(|f| f.operation.id).collect();
    let mut skipped: Vec<usize> = report.skipped.iter().map(|s| s.id).collect();
    skipped.sort_unstable();
    assert_eq!(failed, [1]);
    assert_eq!(skipped, [2, 3]);
    assert_eq!(report.succeeded, 2, "{report:?}");
    // p_back was removed; p-db-1 was already gone, which changes nothing.
    assert_eq!(report.mutations, 1, "{report:?}");
    assert!(report.failed[0].error.contains("p_front"), "{report:?}");
    // Skipped operations never reached the daemon; the independent ones did.
    let calls = docker.calls();
    assert!(
        calls.contains(&"remove_network p_back".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"stop_container p-db-1".to_string()),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|call| call.contains("p_data")),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|call| call.contains("p-web-1")),
        "{calls:?}"
    );
}

const ROLLOUT: &str = "\
services:
  web:
    image: nap/web:2
    deploy:
      update_config:
        failure_action: rollback
";

/// Replaces `p-web-1` (running the old config) under `failure_action` while the new
/// container's start fails once; answers the error and the fake daemon.
async fn failed_replacement(failure_action: FailureAction) -> (HostErrorKind, String, FakeDocker) {
    let inventory = inventory();
    let project = project(ROLLOUT);
    let desired = desired(&project, &inventory);
    let container = desired
        .containers
        .iter()
        .find(|container| container.service == "web")
        .expect("web is placed")
        .clone();
    let name = container.name.clone();
    let docker = FakeDocker::new();
    let shell = FakeShell::new(&container.host);
    let old_body = bollard::models::ContainerCreateBody {
        image: Some("nap/web:1".to_string()),
        ..Default::default()
    };
    docker.add_container(&name, old_body, true);
    docker.fail("start_container", &name, 500, 1);
    let hosts = HashMap::from([(
        container.host.clone(),
        host_actor(&container.host, &docker, &shell).start(),
    )]);
    let service = ServiceActor::new("web", Arc::new(project), hosts, Progress::recording()).start();
    let policy = RolloutPolicy {
        parallelism: 1,
        delay_ms: 0,
        start_first: false,
        monitor_ms: 0,
        failure_action,
    };
    let answer = service
        .send(ReplaceReplica {
            container,
            aside: format!("{name}-old"),
            policy,
            delay: Duration::ZERO,
            wait_timeout: Duration::from_secs(5),
        })
        .await
        .expect("the service actor answers");
    let error = answer.expect_err("the update fails");
    (error.kind, error.message, docker)
}

#[actix::test]
async fn a_failed_replacement_with_rollback_puts_the_old_container_back_running() {
    let (kind, message, docker) = failed_replacement(FailureAction::Rollback).await;
    assert_eq!(kind, HostErrorKind::Rollout);
    assert!(message.contains("rolled back"), "{message}");
    let name = "p-web-1";
    assert_eq!(docker.container_names(), [name]);
    let old = docker.container(name).unwrap();
    assert_eq!(old.body.image.as_deref(), Some("nap/web:1"), "the old one");
    assert!(old.running);
    assert_eq!(
        docker.calls(),
        [
            "rename_container p-web-1 p-web-1-old",
            "stop_container p-web-1-old",
            "create_container p-web-1",
            "start_container p-web-1",
            "stop_container p-web-1",
            "remove_container p-web-1",
            "rename_container p-web-1-old p-web-1",
            "start_container p-web-1",
            "inspect_container p-web-1",
        ]
    );
}

#[actix::test]
async fn a_failed_replacement_with_pause_keeps_the_old_container_aside() {
    let (kind, message, docker) = failed_replacement(FailureAction::Pause).await;
    assert_eq!(kind, HostErrorKind::Rollout);
    assert!(message.contains("paused"), "{message}");
    // The new container stays as it failed; the old one is kept, stopped, under its aside name.
    assert_eq!(docker.container_names(), ["p-web-1", "p-web-1-old"]);
    let old = docker.container("p-web-1-old").unwrap();
    assert_eq!(old.body.image.as_deref(), Some("nap/web:1"));
    assert!(!old.running);
    assert!(docker.calls_of("remove_container").is_empty());
}

#[actix::test]
async fn a_route_script_that_fails_is_an_error_naming_it_and_removal_reads_rules_first() {
    use crate::actors::host::{EnsureRoutes, RemoveRoutes};

    let docker = FakeDocker::new();
    let shell = FakeShell::new("h1");
    shell.answer("ip route replace", 2, "");
    let host = host_actor("h1", &docker, &shell).start();
    let route = nap_core::plan::Route {
        subnet: cidr("172.30.1.0/24"),
        via: "10.0.0.2".to_string(),
    };
    let error = host
        .send(EnsureRoutes {
            routes: vec![route],
            pool: cidr("172.30.0.0/16"),
            local_subnets: vec![cidr("172.30.0.0/24")],
        })
        .await
        .unwrap()
        .expect_err("the script fails");
    assert_eq!(error.kind, HostErrorKind::Ssh);
    assert!(error.message.contains("failed with status 2"), "{error}");
    // A removal lists the host's rules first and deletes only what it parsed from them.
    host.send(RemoveRoutes {
        subnets: vec![cidr("172.30.1.0/24")],
    })
    .await
    .unwrap()
    .expect("nothing to remove is fine");
    let calls = shell.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        calls[1],
        ShellCall::Script(nap_core::routes::LIST_RULES.to_string())
    );
    assert!(docker.calls().is_empty(), "no Docker call for routes");
}

// ---------------------------------------------------------------------------------------
// Hosts files: one write per host, in place, from nap's data only
// ---------------------------------------------------------------------------------------

/// Two services on the default network, spread over the inventory's two hosts.
const NAMED: &str = "\
services:
  web:
    image: nap/web:1
    deploy: {replicas: 2}
    extra_hosts: ['ext:10.9.9.9']
  db:
    image: nap/db:1
";

/// The hosts files of `host` in the desired state of `compose`, as the plan writes them.
fn write_for(compose: &str, host: &str) -> crate::actors::host::WriteHostsFiles {
    let project = project(compose);
    let desired = desired(&project, &inventory());
    crate::actors::host::WriteHostsFiles {
        folder: nap_core::hosts_file::folder("p", host).unwrap(),
        files: desired
            .hosts_files
            .iter()
            .filter(|file| file.host == host)
            .cloned()
            .collect(),
        images: vec!["nap/web:1".to_string()],
    }
}

#[actix::test]
async fn over_ssh_a_host_s_files_are_one_fixed_command_with_nap_s_text_on_stdin() {
    use crate::actors::host::hosts_file::{WRITE_HOSTS_FILES, write_command_input};

    let docker = FakeDocker::new();
    let shell = FakeShell::new("h1");
    shell.answer(WRITE_HOSTS_FILES, 0, "2\n");
    let host = host_actor("h1", &docker, &shell).start();
    let message = write_for(NAMED, "h1");
    assert!(
        message.files.len() >= 2,
        "web (own extra_hosts) and db views"
    );
    let expected: Vec<(String, String)> = message
        .files
        .iter()
        .map(|file| {
            (
                file.file.clone(),
                nap_core::hosts_file::render(file).unwrap(),
            )
        })
        .collect();
    let outcome = host.send(message).await.unwrap().expect("written");
    assert_eq!(outcome, crate::actors::Outcome::WrittenOverSsh);
    let calls = shell.calls();
    assert_eq!(calls.len(), 1, "one command per host: {calls:?}");
    let ShellCall::WithStdin { command, stdin } = &calls[0] else {
        panic!("not a command with stdin: {calls:?}");
    };
    assert_eq!(command, WRITE_HOSTS_FILES);
    // The data is nap's rendering, nothing else: the folder, then each file.
    assert_eq!(*stdin, write_command_input("/var/lib/nap/p/h1", &expected));
    let text = String::from_utf8_lossy(stdin);
    assert!(text.contains("10.9.9.9\text\n"), "{text}");
    assert!(text.contains("\tp-web-2\n"), "{text}");
    assert!(text.starts_with("/var/lib/nap/p/h1\nv-"), "{text}");
    // No Docker call, no event stream: nothing is re-applied when containers restart.
    assert!(docker.calls().is_empty(), "{:?}", docker.calls());

    // A file name or folder the core would never make is refused before anything runs.
    let mut bad = write_for(NAMED, "h1");
    bad.folder = "/var/lib/nap/../etc".to_string();
    let error = host.send(bad).await.unwrap().unwrap_err();
    assert_eq!(error.kind, HostErrorKind::Invalid, "{error}");
    let mut bad = write_for(NAMED, "h1");
    bad.files[0].file = "../../etc/passwd".to_string();
    assert!(host.send(bad).await.unwrap().is_err());
    assert_eq!(shell.calls().len(), 1);
}

/// The fixed command, run by `sh` against a folder of this machine (the `/var/lib/nap/` it
/// accepts swapped for a test folder): files are created, rewritten in place (same inode),
/// never shorter (padded), unchanged files untouched, and bad names refused.
#[test]
fn the_write_command_rewrites_in_place_and_pads() {
    use std::io::Write as _;
    use std::os::unix::fs::MetadataExt;

    use crate::actors::host::hosts_file::{
        REMOVE_HOSTS_FILES, WRITE_HOSTS_FILES, write_command_input,
    };

    let root = format!("/tmp/nap-hosts-test-{}/", std::process::id());
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let script = WRITE_HOSTS_FILES.replace("/var/lib/nap/", &root);
    let run = |script: &str, stdin: &[u8]| {
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).trim().to_string(),
        )
    };
    let folder = format!("{root}p/h1");
    let name = nap_core::hosts_file::view_file_name(&["default"], &[], &[]);
    let path = format!("{folder}/{name}");
    let long = "127.0.0.1\tlocalhost\n172.30.0.2\tweb\n172.30.1.2\tweb\n".to_string();
    let short = "127.0.0.1\tlocalhost\n172.30.0.2\tweb\n".to_string();

    assert_eq!(
        run(
            &script,
            &write_command_input(&folder, &[(name.clone(), long.clone())])
        ),
        (Some(0), "1".to_string())
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), long);
    let inode = std::fs::metadata(&path).unwrap().ino();
    // Shorter: same inode, never shorter than before, the old tail blanked.
    assert_eq!(
        run(
            &script,
            &write_command_input(&folder, &[(name.clone(), short.clone())])
        ),
        (Some(0), "1".to_string())
    );
    let now = std::fs::read_to_string(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
    assert_eq!(now.len(), long.len());
    assert!(now.starts_with(&short), "{now:?}");
    assert!(now[short.len()..].trim().is_empty(), "{now:?}");
    // The same again: nothing written.
    let modified = std::fs::metadata(&path).unwrap().mtime_nsec();
    assert_eq!(
        run(
            &script,
            &write_command_input(&folder, &[(name.clone(), short.clone())])
        ),
        (Some(0), "0".to_string())
    );
    assert_eq!(std::fs::metadata(&path).unwrap().mtime_nsec(), modified);
    assert!(
        std::fs::read_dir(&folder).unwrap().count() == 1,
        "no temporary file left"
    );
    // Names the core never makes are refused, nothing written.
    for (bad_folder, bad_name) in [
        (format!("{root}p/../x"), name.clone()),
        (format!("{root}p/h1/x"), name.clone()),
        (root.clone(), name.clone()),
        ("/etc".to_string(), name.clone()),
        (folder.clone(), "../passwd".to_string()),
        (folder.clone(), "v-0123.hosts".to_string()),
    ] {
        let (status, _) = run(
            &script,
            &write_command_input(&bad_folder, &[(bad_name.clone(), "x\n".to_string())]),
        );
        assert_eq!(status, Some(3), "{bad_folder} {bad_name}");
    }
    // Removal: the file and then the empty folder go.
    let remove = REMOVE_HOSTS_FILES.replace("/var/lib/nap/", &root);
    assert_eq!(
        run(&remove, format!("{folder}\n{name}\n").as_bytes()).0,
        Some(0)
    );
    assert!(!std::path::Path::new(&folder).exists());
    assert!(!std::path::Path::new(&format!("{root}p")).exists());
    std::fs::remove_dir_all(&root).unwrap();
}

#[actix::test]
async fn without_ssh_a_file_is_written_in_place_through_a_helper_container() {
    let docker = FakeDocker::new();
    let shell = FakeShell::none("h2");
    let host = host_actor("h2", &docker, &shell).start();
    let message = write_for(NAMED, "h2");
    let file = message.files[0].clone();
    let path = format!("/var/lib/nap/p/h2/{}", file.file);
    let text = nap_core::hosts_file::render(&file).unwrap();
    // A file written before (longer than the new text), bind-mounted in a running container.
    let longer = format!("{text}{}\n", "#".repeat(200));
    docker.write_host_file(&path, &longer);
    let (inode, _) = docker.host_file(&path).unwrap();
    let body = bollard::models::ContainerCreateBody {
        host_config: Some(bollard::models::HostConfig {
            mounts: Some(vec![bollard::models::Mount {
                target: Some("/etc/hosts".to_string()),
                source: Some(path.clone()),
                typ: Some(bollard::models::MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker.add_container("p-db-1", body, true);
    let outcome = host
        .send(crate::actors::host::WriteHostsFiles {
            folder: message.folder.clone(),
            files: vec![file.clone()],
            images: vec!["nap/web:1".to_string()],
        })
        .await
        .unwrap()
        .expect("written");
    assert_eq!(outcome, crate::actors::Outcome::WrittenByDocker);
    let helper = format!("p-nap-hosts-{}", file.file.trim_end_matches(".hosts"));
    assert_eq!(
        docker.calls(),
        [
            "create_container",
            "download_from_container",
            "upload_to_container",
            "start_container",
            "wait_container",
            "remove_container",
        ]
        .map(|call| format!("{call} {helper}"))
    );
    // The same inode, padded to the old length: what the running container reads now.
    let (after, contents) = docker.host_file(&path).unwrap();
    assert_eq!(after, inode);
    assert_eq!(contents.len(), longer.len());
    assert!(contents.starts_with(&text), "{contents}");
    assert_eq!(docker.etc_hosts("p-db-1").unwrap(), contents);
    assert!(shell.calls().is_empty());
    assert!(docker.container("p-db-1").unwrap().running);
    // Unchanged: read, nothing uploaded or started.
    let calls_before = docker.calls().len();
    let again = host
        .send(crate::actors::host::WriteHostsFiles {
            folder: message.folder.clone(),
            files: vec![file],
            images: vec!["nap/web:1".to_string()],
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, crate::actors::Outcome::UpToDate);
    let new_calls = docker.calls()[calls_before..].to_vec();
    assert!(
        !new_calls.iter().any(|call| call.starts_with("upload")),
        "{new_calls:?}"
    );
    // `down`: the helper runs `rm -f` on the files.
    let removed = host
        .send(crate::actors::host::RemoveHostsFiles {
            folder: message.folder,
            files: vec![path.rsplit('/').next().unwrap().to_string()],
            images: vec!["nap/db:1".to_string()],
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed, crate::actors::Outcome::WrittenByDocker);
    assert!(docker.host_file(&path).is_none());
    assert_eq!(
        docker.container_names(),
        ["p-db-1".to_string()],
        "no helper left"
    );
}

#[actix::test]
async fn a_helper_whose_image_cannot_run_dd_gives_way_to_the_next_image() {
    let docker = FakeDocker::new();
    let shell = FakeShell::none("h2");
    let host = host_actor("h2", &docker, &shell).start();
    let mut message = write_for(NAMED, "h2");
    message.files.truncate(1);
    let file = message.files[0].clone();
    let helper = format!("p-nap-hosts-{}", file.file.trim_end_matches(".hosts"));
    // The first image's helper cannot start (no `dd` in it, as in a distroless image).
    docker.fail("start_container", &helper, 500, 1);
    message.images = vec!["nap/distroless:1".to_string(), "nap/web:1".to_string()];
    let outcome = host.send(message).await.unwrap().expect("written");
    assert_eq!(outcome, crate::actors::Outcome::WrittenByDocker);
    let path = format!("/var/lib/nap/p/h2/{}", file.file);
    let (_, contents) = docker.host_file(&path).expect("the file is written");
    assert_eq!(contents, nap_core::hosts_file::render(&file).unwrap());
    assert!(docker.container_names().is_empty(), "no helper left");
    assert_eq!(docker.calls_of("create_container").len(), 2);
}
