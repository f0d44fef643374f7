//! One-off containers (`nap run`) in the desired state and the plan: placed beside the
//! service's replicas, addressed apart from them, resolving every service while no replica's
//! table lists them, planned as a create (not a start) after the dependencies, and removed
//! by `teardown` once observed.

use std::path::{Path, PathBuf};

use nap_core::compose::{LoadOptions, MemoryFileSystem, Project, load_with};
use nap_core::graph::DependencyGraph;
use nap_core::inventory::Inventory;
use nap_core::plan::{
    DesiredState, LABEL_ONE_OFF, ObservedContainer, ObservedState, OneOff, Operation, Plan,
    ReconcileOptions, TeardownOptions, desired_state, desired_state_with_one_off, reconcile,
    select, teardown,
};
use nap_core::scheduler::DefaultPolicy;

const APP: &str = "\
name: app
services:
  web:
    image: lab:1
    deploy: {replicas: 2}
    depends_on:
      db: {condition: service_healthy}
  db:
    image: lab:1
    healthcheck: {test: [CMD, 'true']}
    deploy:
      placement:
        constraints: ['node.labels.disk == ssd']
  other:
    image: lab:1
";

const HOSTS: &str = "\
hosts:
  h1:
    docker: tcp://10.0.0.1:2375
    ssh: root@10.0.0.1
  h2:
    docker: tcp://10.0.0.2:2375
    ssh: root@10.0.0.2
    labels: {disk: ssd}
  h3:
    docker: tcp://10.0.0.3:2375
    ssh: root@10.0.0.3
";

fn project() -> Project {
    let fs = MemoryFileSystem::default().with("/p/compose.yaml", APP);
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        ..LoadOptions::default()
    };
    load_with(&options, &fs)
        .expect("the test project loads")
        .project
}

fn inventory() -> Inventory {
    Inventory::parse(Path::new("/inv/nap-hosts.yml"), HOSTS)
        .expect("the test inventory parses")
        .0
}

fn one_off(service: &str, host: Option<&str>) -> OneOff {
    OneOff {
        service: service.to_string(),
        name: format!("app-{service}-run-0123456789ab"),
        host: host.map(str::to_string),
    }
}

fn with_one_off(one_off: &OneOff, observed: &ObservedState) -> DesiredState {
    desired_state_with_one_off(
        &project(),
        &inventory(),
        observed,
        &mut DefaultPolicy,
        Some(one_off),
    )
    .expect("the one-off is placed")
}

/// What the daemons hold once `desired` ran, the one-off (by its label) kept apart.
fn deployed(desired: &DesiredState) -> ObservedState {
    let mut observed = ObservedState::default();
    for container in &desired.containers {
        let observed_container = ObservedContainer {
            host: container.host.clone(),
            id: format!("id-{}", container.name),
            name: container.name.clone(),
            service: container.service.clone(),
            replica: container.replica,
            config_hash: container.config_hash.clone(),
            state: "running".to_string(),
            exit_code: None,
            addresses: container
                .networks
                .iter()
                .filter_map(|n| n.ipv4_address.map(|address| (n.network.clone(), address)))
                .collect(),
            image: container.image.clone(),
            hosts_file: container.hosts_file.clone(),
        };
        if container.labels.contains_key(LABEL_ONE_OFF) {
            observed.one_offs.push(observed_container);
        } else {
            observed.containers.push(observed_container);
        }
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
    observed
}

#[test]
fn a_one_off_runs_beside_its_replicas_with_an_address_of_its_own_and_every_name() {
    let request = one_off("web", None);
    let desired = with_one_off(&request, &ObservedState::default());
    let run = desired
        .containers
        .iter()
        .find(|c| c.name == request.name)
        .expect("the one-off is in the desired state");
    assert_eq!(
        run.labels.get(LABEL_ONE_OFF).map(String::as_str),
        Some("true")
    );
    let web_hosts: Vec<&str> = desired
        .containers
        .iter()
        .filter(|c| c.service == "web" && c.name != request.name)
        .map(|c| c.host.as_str())
        .collect();
    assert!(
        web_hosts.contains(&run.host.as_str()),
        "{} not in {web_hosts:?}",
        run.host
    );
    // Its address is its own, and no service name is an alias of it.
    let address = run.networks[0]
        .ipv4_address
        .expect("routed mode gives an address");
    for other in desired.containers.iter().filter(|c| c.name != request.name) {
        assert!(
            other
                .networks
                .iter()
                .all(|n| n.ipv4_address != Some(address)),
            "{} shares {address}",
            other.name
        );
    }
    assert!(run.networks[0].aliases.is_empty());
    // It resolves every service; nobody resolves it.
    for name in ["web", "db", "other", "app-web-2"] {
        assert!(
            run.extra_hosts.iter().any(|e| e.name == name),
            "{name} missing"
        );
    }
    for other in &desired.containers {
        assert!(
            other.extra_hosts.iter().all(|e| e.address != address),
            "{} resolves the one-off",
            other.name
        );
    }
    // The replicas' tables are those of a deployment without it.
    let plain = desired_state(
        &project(),
        &inventory(),
        &ObservedState::default(),
        &mut DefaultPolicy,
    )
    .unwrap();
    for container in &plain.containers {
        let same = desired
            .containers
            .iter()
            .find(|c| c.name == container.name)
            .unwrap();
        assert_eq!(
            same.extra_hosts, container.extra_hosts,
            "{}",
            container.name
        );
        assert_eq!(same.host, container.host);
    }
}

#[test]
fn a_named_host_must_be_in_the_inventory_and_satisfy_the_constraints() {
    let desired = with_one_off(&one_off("web", Some("h3")), &ObservedState::default());
    assert!(
        desired
            .containers
            .iter()
            .any(|c| c.name.contains("-run-") && c.host == "h3")
    );
    // h3 runs no web replica: its network (and routes to it) are planned too.
    assert!(desired.networks.iter().any(|n| n.host == "h3"));
    let error = desired_state_with_one_off(
        &project(),
        &inventory(),
        &ObservedState::default(),
        &mut DefaultPolicy,
        Some(&one_off("db", Some("h1"))),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("\"db\"") && error.contains("h1") && error.contains("constraints"),
        "{error}"
    );
    let error = desired_state_with_one_off(
        &project(),
        &inventory(),
        &ObservedState::default(),
        &mut DefaultPolicy,
        Some(&one_off("web", Some("h9"))),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("h9") && error.contains("not in the inventory"),
        "{error}"
    );
}

fn one_off_plan(request: &OneOff, observed: &ObservedState, with_dependencies: bool) -> Plan {
    let desired = with_one_off(request, observed);
    let plan = reconcile(&desired, observed, ReconcileOptions::default());
    select::for_one_off(
        &plan,
        &desired,
        observed,
        &DependencyGraph::from_project(&project()),
        request,
        with_dependencies,
    )
}

#[test]
fn the_plan_starts_the_dependencies_and_only_creates_the_one_off() {
    let request = one_off("web", None);
    let plan = one_off_plan(&request, &ObservedState::default(), true);
    let mut created = Vec::new();
    let mut started = Vec::new();
    for planned in &plan.operations {
        match &planned.operation {
            Operation::CreateContainer { container, .. } => created.push(container.clone()),
            Operation::StartContainer { container, .. } => started.push(container.clone()),
            _ => {}
        }
    }
    assert_eq!(created, vec!["app-db-1".to_string(), request.name.clone()]);
    assert_eq!(started, vec!["app-db-1".to_string()]);
    // Without dependencies: the one-off alone.
    let plan = one_off_plan(&request, &ObservedState::default(), false);
    let created: Vec<&str> = plan
        .operations
        .iter()
        .filter_map(|p| match &p.operation {
            Operation::CreateContainer { container, .. } => Some(container.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(created, vec![request.name.as_str()]);
    assert!(
        !plan
            .operations
            .iter()
            .any(|p| matches!(p.operation, Operation::StartContainer { .. }))
    );
}

#[test]
fn an_observed_one_off_is_no_replica_keeps_its_address_and_goes_with_down() {
    let request = one_off("web", None);
    let observed = deployed(&with_one_off(&request, &ObservedState::default()));
    assert_eq!(observed.one_offs.len(), 1);
    let address = *observed.one_offs[0].addresses.values().next().unwrap();
    // A later `up` plans nothing for it and keeps it.
    let desired = desired_state(&project(), &inventory(), &observed, &mut DefaultPolicy).unwrap();
    let plan = reconcile(
        &desired,
        &observed,
        ReconcileOptions {
            remove_orphans: true,
            ..ReconcileOptions::default()
        },
    );
    assert!(
        plan.operations
            .iter()
            .all(|p| !format!("{:?}", p.operation).contains(&request.name)),
        "{}",
        plan.to_text()
    );
    // A scale-up does not take its address.
    let second = one_off("web", None);
    let second = OneOff {
        name: "app-web-run-second".into(),
        ..second
    };
    let desired = with_one_off(&second, &observed);
    for container in &desired.containers {
        assert!(
            container
                .networks
                .iter()
                .all(|n| n.ipv4_address != Some(address)),
            "{} took the running one-off's address",
            container.name
        );
    }
    // `down` removes it.
    let plan = teardown("app", &observed, TeardownOptions::default());
    assert!(plan.operations.iter().any(|p| matches!(
        &p.operation,
        Operation::RemoveContainer { container, .. } if *container == request.name
    )));
}

#[test]
fn a_one_off_of_a_stateful_service_runs_where_replica_1s_state_is() {
    let text = "name: app\nservices:\n  db:\n    image: lab:1\n    deploy: {replicas: 2}\n    volumes: [data:/var/lib/db]\nvolumes:\n  data: {}\n";
    let fs = MemoryFileSystem::default().with("/p/compose.yaml", text);
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        ..LoadOptions::default()
    };
    let project = load_with(&options, &fs).unwrap().project;
    for _ in 0..3 {
        let desired = desired_state_with_one_off(
            &project,
            &inventory(),
            &ObservedState::default(),
            &mut DefaultPolicy,
            Some(&one_off("db", None)),
        )
        .unwrap();
        let first = desired
            .containers
            .iter()
            .find(|c| c.name == "app-db-1")
            .unwrap();
        let run = desired
            .containers
            .iter()
            .find(|c| c.name.contains("-run-"))
            .unwrap();
        assert_eq!(run.host, first.host);
    }
    let error = desired_state_with_one_off(
        &project,
        &inventory(),
        &ObservedState::default(),
        &mut DefaultPolicy,
        Some(&one_off("db", Some("h3"))),
    );
    // h3 holds no replica 1 of db in a fresh placement unless the scheduler put it there.
    if let Err(error) = error {
        assert!(error.to_string().contains("state"), "{error}");
    }
}
