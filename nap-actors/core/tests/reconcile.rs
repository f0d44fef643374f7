//! Integration tests of observe → reconcile → plan: `desired_state` (placement, subnets,
//! addresses, name tables), `reconcile` against observed states (fresh deploy, idempotence,
//! changed config, scaling, orphans, stopped and one-shot containers), `config_hash` and
//! `teardown`.
//!
//! Projects are loaded from in-memory compose files; inventories are parsed from text as if
//! read from `/inv/nap-hosts.yml`. The "state after a successful deploy" is built from a
//! desired state by [`deployed`], so each test plans against what a previous plan produced.
//!
//! A plan is checked as data: [`check`] compares its text form (`Plan::to_text`, what
//! `nap plan` prints) with an `expect![[...]]` snapshot. `UPDATE_EXPECT=1 cargo test -p
//! nap-core --test reconcile` rewrites them (cargo test, not nextest, whose processes would
//! overwrite each other's edits); review the diff. What the text does not show (addresses, name tables, hashes,
//! delays, the order of ids) is asserted beside it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use expect_test::{Expect, expect};
use nap_core::compose::{LoadOptions, MemoryFileSystem, Project, Service, load_with};
use nap_core::inventory::{Inventory, Ipv4Cidr};
use nap_core::plan::{
    DesiredContainer, DesiredState, ObservedContainer, ObservedImage, ObservedNetwork,
    ObservedState, Operation, Plan, PlannedOperation, ReconcileOptions, TeardownOptions,
    config_hash, desired_state, reconcile, teardown,
};
use nap_core::scheduler::DefaultPolicy;

/// Four services: `web` → `api` (3 replicas) → `db` (healthy) and `migrate` (a one-shot
/// that `api` waits to complete), all on the default network.
const SHOP: &str = "\
name: shop
services:
  web:
    image: nginx:1.27
    ports: ['8080:80']
    depends_on: [api]
  api:
    image: shop/api:1
    deploy:
      replicas: 3
    environment:
      DB_HOST: db
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  db:
    image: postgres:16
    volumes: [pgdata:/var/lib/postgresql/data]
    healthcheck:
      test: [CMD, pg_isready]
  migrate:
    image: shop/api:1
    command: migrate
    depends_on:
      db: {condition: service_healthy}
volumes:
  pgdata: {}
";

/// Three hosts, routed networking over the default pool.
const ROUTED: &str = "\
hosts:
  h1:
    docker: tcp://10.0.0.1:2375
    ssh: root@10.0.0.1
  h2:
    docker: tcp://10.0.0.2:2375
    ssh: root@10.0.0.2
  h3:
    docker: tcp://10.0.0.3:2375
    ssh: root@10.0.0.3
network:
  mode: routed
  pool: 172.30.0.0/16
";

/// The same three hosts, listed in another order.
const ROUTED_SHUFFLED: &str = "\
network:
  pool: 172.30.0.0/16
  mode: routed
hosts:
  h3:
    ssh: root@10.0.0.3
    docker: tcp://10.0.0.3:2375
  h1:
    docker: tcp://10.0.0.1:2375
    ssh: root@10.0.0.1
  h2:
    docker: tcp://10.0.0.2:2375
    ssh: root@10.0.0.2
";

/// Three hosts, published networking (no SSH needed).
const PUBLISHED: &str = "\
hosts:
  h1:
    docker: tcp://10.0.0.1:2375
  h2:
    docker: tcp://10.0.0.2:2375
  h3:
    docker: tcp://10.0.0.3:2375
network:
  mode: published
";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

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

fn inventory(text: &str) -> Inventory {
    match Inventory::parse(Path::new("/inv/nap-hosts.yml"), text) {
        Ok((inventory, _)) => inventory,
        Err(error) => panic!("cannot parse the test inventory: {error}"),
    }
}

fn desired(project: &Project, inventory: &Inventory, observed: &ObservedState) -> DesiredState {
    match desired_state(project, inventory, observed, &mut DefaultPolicy) {
        Ok(desired) => desired,
        Err(error) => panic!("desired_state failed: {error}"),
    }
}

/// The observed state after a successful deploy of `desired`: every container running with
/// its addresses, name table and config hash; every network present with the project label;
/// every volume and image present.
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
                addresses: container
                    .networks
                    .iter()
                    .filter_map(|n| n.ipv4_address.map(|address| (n.network.clone(), address)))
                    .collect(),
                image: container.image.clone(),
                hosts_file: container.hosts_file.clone(),
            })
            .collect(),
        networks: desired
            .networks
            .iter()
            .map(|network| ObservedNetwork {
                host: network.host.clone(),
                name: network.name.clone(),
                subnet: network.subnet,
                gateway: None,
                project: Some(desired.project.clone()),
            })
            .collect(),
        volumes: desired.volumes.clone(),
        project_volumes: desired.volumes.clone(),
        one_offs: Vec::new(),
        images: desired
            .containers
            .iter()
            .map(|container| (container.host.clone(), container.image.clone()))
            .collect(),
        image_details: desired
            .containers
            .iter()
            .map(|container| {
                let build = desired
                    .builds
                    .iter()
                    .find(|b| b.service == container.service);
                (
                    (container.host.clone(), container.image.clone()),
                    ObservedImage {
                        id: format!("sha256:{}", container.image),
                        build_hash: build.and_then(|build| build.context_hash.clone()),
                    },
                )
            })
            .collect(),
    }
}

/// Desired state and plan for a fresh deploy of `compose` on `hosts`.
fn fresh(compose: &str, hosts: &str) -> (Project, Inventory, DesiredState, Plan) {
    let project = project(compose);
    let inventory = inventory(hosts);
    let desired = desired(&project, &inventory, &ObservedState::default());
    let plan = reconcile(
        &desired,
        &ObservedState::default(),
        ReconcileOptions::default(),
    );
    (project, inventory, desired, plan)
}

/// Plans `compose` on `hosts` against `observed` and compares the plan's text form (what
/// `nap plan` prints: placements, one line per operation with its host and what it waits
/// for, notes) with `expect`. Returns the desired state and the plan, for the assertions
/// that are not about the text.
fn check(
    compose: &str,
    hosts: &str,
    observed: &ObservedState,
    expect: Expect,
) -> (DesiredState, Plan) {
    check_with(
        compose,
        hosts,
        observed,
        ReconcileOptions::default(),
        expect,
    )
}

/// [`check`] with reconcile options.
fn check_with(
    compose: &str,
    hosts: &str,
    observed: &ObservedState,
    options: ReconcileOptions,
    expect: Expect,
) -> (DesiredState, Plan) {
    let desired = desired(&project(compose), &inventory(hosts), observed);
    let plan = reconcile(&desired, observed, options);
    expect.assert_eq(&plan.to_text());
    (desired, plan)
}

/// (service, replica, host) of every placement.
fn placements(plan: &Plan) -> Vec<(String, u32, String)> {
    plan.placements
        .iter()
        .map(|p| (p.service.clone(), p.replica, p.host.clone()))
        .collect()
}

fn container<'a>(desired: &'a DesiredState, name: &str) -> &'a DesiredContainer {
    desired
        .containers
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no desired container {name}"))
}

/// The addresses `name` resolves to in `viewer`'s name table, in table order.
fn resolves(viewer: &DesiredContainer, name: &str) -> Vec<Ipv4Addr> {
    viewer
        .extra_hosts
        .iter()
        .filter(|entry| entry.name == name)
        .map(|entry| entry.address)
        .collect()
}

fn address_on_default(container: &DesiredContainer) -> Ipv4Addr {
    container
        .networks
        .iter()
        .find(|n| n.key == "default")
        .and_then(|n| n.ipv4_address)
        .unwrap_or_else(|| panic!("{} has no address on default", container.name))
}

// ---------------------------------------------------------------------------------------
// (a) Fresh deploy
// ---------------------------------------------------------------------------------------

#[test]
fn fresh_deploy_on_three_hosts() {
    let (_, _, _, plan) = fresh(SHOP, ROUTED);
    expect![[r#"
        project shop: 6 containers on 3 hosts
        placements:
          api[1]                         h1         shop-api-1
          api[2]                         h2         shop-api-2
          api[3]                         h3         shop-api-3
          db[1]                          h1         shop-db-1
          migrate[1]                     h2         shop-migrate-1
          web[1]                         h3         shop-web-1
        operations:
          #1   h1       create network shop_default (172.30.0.0/24)
          #2   h2       create network shop_default (172.30.1.0/24)
          #3   h3       create network shop_default (172.30.2.0/24)
          #4   h1       ensure routes [172.30.1.0/24 via 10.0.0.2, 172.30.2.0/24 via 10.0.0.3]
          #5   h2       ensure routes [172.30.0.0/24 via 10.0.0.1, 172.30.2.0/24 via 10.0.0.3]
          #6   h3       ensure routes [172.30.0.0/24 via 10.0.0.1, 172.30.1.0/24 via 10.0.0.2]
          #7   h1       create volume shop_pgdata
          #8   h1       ensure image shop/api:1
          #9   h2       ensure image shop/api:1
          #10  h3       ensure image shop/api:1
          #11  h1       ensure image postgres:16
          #12  h3       ensure image nginx:1.27
          #13  h1       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]  after #8 #11
          #14  h2       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]  after #9
          #15  h3       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]  after #10 #12
          #16  h1       create container shop-api-1 (new)  after #1 #7 #8 #13 #14 #15
          #17  h2       create container shop-api-2 (new)  after #2 #9 #13 #14 #15
          #18  h3       create container shop-api-3 (new)  after #3 #10 #13 #14 #15
          #19  h1       create container shop-db-1 (new)  after #1 #7 #11 #13 #14 #15
          #20  h2       create container shop-migrate-1 (new)  after #2 #9 #13 #14 #15
          #21  h3       create container shop-web-1 (new)  after #3 #12 #13 #14 #15
          #22  h1       start shop-db-1  after #4 #19
          #23  h1       wait for shop-db-1 healthy  after #22
          #24  h2       start shop-migrate-1  after #5 #20 #23
          #25  h2       wait for shop-migrate-1 to complete  after #24
          #26  h1       start shop-api-1  after #4 #16 #23 #25
          #27  h2       start shop-api-2  after #5 #17 #23 #25
          #28  h3       start shop-api-3  after #6 #18 #23 #25
          #29  h3       start shop-web-1  after #6 #21 #26 #27 #28
    "#]]
    .assert_eq(&plan.to_text());
}

// ---------------------------------------------------------------------------------------
// (b) Idempotence
// ---------------------------------------------------------------------------------------

#[test]
fn replanning_a_deployed_project_changes_nothing() {
    let (project, inventory, first, first_plan) = fresh(SHOP, ROUTED);
    let observed = deployed(&first);
    let second = desired(&project, &inventory, &observed);
    assert_eq!(second, first, "the desired state moved");
    let plan = reconcile(&second, &observed, ReconcileOptions::default());
    assert!(plan.is_empty(), "{}", plan.to_text());
    assert!(plan.operations.is_empty(), "{}", plan.to_text());
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
    assert_eq!(placements(&plan), placements(&first_plan));
    assert!(plan.to_text().contains("operations: none (up to date)"));
}

// ---------------------------------------------------------------------------------------
// (c) A changed service
// ---------------------------------------------------------------------------------------

#[test]
fn a_changed_environment_recreates_only_that_service() {
    let (_, _, first, _) = fresh(SHOP, ROUTED);
    let observed = deployed(&first);
    // Besides api's containers, only the (idempotent) routes of the hosts where containers
    // are created: no network, volume, image, wait or other service is touched.
    let (second, plan) = check(
        &SHOP.replace("DB_HOST: db", "DB_HOST: db.internal"),
        ROUTED,
        &observed,
        expect![[r#"
            project shop: 6 containers on 3 hosts
            placements:
              api[1]                         h1         shop-api-1
              api[2]                         h2         shop-api-2
              api[3]                         h3         shop-api-3
              db[1]                          h1         shop-db-1
              migrate[1]                     h2         shop-migrate-1
              web[1]                         h3         shop-web-1
            operations:
              #1   h1       ensure routes [172.30.1.0/24 via 10.0.0.2, 172.30.2.0/24 via 10.0.0.3]
              #2   h2       ensure routes [172.30.0.0/24 via 10.0.0.1, 172.30.2.0/24 via 10.0.0.3]
              #3   h3       ensure routes [172.30.0.0/24 via 10.0.0.1, 172.30.1.0/24 via 10.0.0.2]
              #4   h1       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]
              #5   h2       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]
              #6   h3       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]
              #7   h1       remove container shop-api-1 (config changed)
              #8   h1       create container shop-api-1 (config changed)  after #4 #5 #6 #7
              #9   h2       remove container shop-api-2 (config changed)
              #10  h2       create container shop-api-2 (config changed)  after #4 #5 #6 #9
              #11  h3       remove container shop-api-3 (config changed)
              #12  h3       create container shop-api-3 (config changed)  after #4 #5 #6 #11
              #13  h1       start shop-api-1  after #1 #8
              #14  h2       start shop-api-2  after #2 #10
              #15  h3       start shop-api-3  after #3 #12
        "#]],
    );
    // Each recreated container waits for the removal of the old one.
    for planned in &plan.operations {
        if let Operation::CreateContainer { container, .. } = &planned.operation {
            let removal = plan
                .operations
                .iter()
                .find(|o| {
                    matches!(&o.operation, Operation::RemoveContainer { container: c, .. } if c == container)
                })
                .map(|o| o.id);
            assert!(
                removal.is_some_and(|id| planned.after.contains(&id)),
                "{}",
                plan.to_text()
            );
        }
    }

    // The same placements, addresses and name tables as before.
    assert_eq!(placements(&plan), {
        let plan = reconcile(
            &first,
            &ObservedState::default(),
            ReconcileOptions::default(),
        );
        placements(&plan)
    });
    for (before, after) in first.containers.iter().zip(&second.containers) {
        assert_eq!(before.name, after.name);
        assert_eq!(before.networks, after.networks, "{}", before.name);
        assert_eq!(before.extra_hosts, after.extra_hosts, "{}", before.name);
        assert_eq!(
            before.config_hash == after.config_hash,
            before.service != "api",
            "{}",
            before.name
        );
    }
}

// ---------------------------------------------------------------------------------------
// (d) Scaling
// ---------------------------------------------------------------------------------------

#[test]
fn scaling_down_removes_the_highest_replicas_and_scaling_up_adds_only_new_ones() {
    let (_, _, three, _) = fresh(SHOP, ROUTED);
    let observed = deployed(&three);

    // 3 → 1: the highest replicas go, nothing is started, nothing else moves, and the
    // running containers' name tables lose the removed replicas: they are patched, not
    // recreated.
    let (scaled_down, _) = check(
        &SHOP.replace("replicas: 3", "replicas: 1"),
        ROUTED,
        &observed,
        expect![[r#"
            project shop: 4 containers on 3 hosts
            placements:
              api[1]                         h1         shop-api-1
              db[1]                          h1         shop-db-1
              migrate[1]                     h2         shop-migrate-1
              web[1]                         h3         shop-web-1
            operations:
              #1   h1       write hosts files [v-aa371ae5efde7003.hosts (8 entries)]
              #2   h2       write hosts files [v-aa371ae5efde7003.hosts (8 entries)]
              #3   h3       write hosts files [v-aa371ae5efde7003.hosts (8 entries)]
              #4   h2       remove container shop-api-2 (scaled down)  after #1 #2 #3
              #5   h3       remove container shop-api-3 (scaled down)  after #1 #2 #3
        "#]],
    );
    // The other containers keep their addresses.
    for after in &scaled_down.containers {
        assert_eq!(
            address_on_default(after),
            address_on_default(container(&three, &after.name))
        );
        assert!(resolves(after, "shop-api-2").is_empty());
        assert_eq!(resolves(after, "api").len(), 1);
    }

    // 1 → 2 from the scaled-down state: only the new replica is created and started.
    let (scaled_up, _) = check(
        &SHOP.replace("replicas: 3", "replicas: 2"),
        ROUTED,
        &deployed(&scaled_down),
        expect![[r#"
            project shop: 5 containers on 3 hosts
            placements:
              api[1]                         h1         shop-api-1
              api[2]                         h2         shop-api-2
              db[1]                          h1         shop-db-1
              migrate[1]                     h2         shop-migrate-1
              web[1]                         h3         shop-web-1
            operations:
              #1   h2       ensure routes [172.30.0.0/24 via 10.0.0.1, 172.30.2.0/24 via 10.0.0.3]
              #2   h1       write hosts files [v-aa371ae5efde7003.hosts (10 entries)]
              #3   h2       write hosts files [v-aa371ae5efde7003.hosts (10 entries)]
              #4   h3       write hosts files [v-aa371ae5efde7003.hosts (10 entries)]
              #5   h2       create container shop-api-2 (new)  after #2 #3 #4
              #6   h2       start shop-api-2  after #1 #5
        "#]],
    );
    // The earlier containers stay where they were.
    for before in &scaled_down.containers {
        let after = container(&scaled_up, &before.name);
        assert_eq!(
            (&after.host, &after.networks),
            (&before.host, &before.networks)
        );
    }
}

// ---------------------------------------------------------------------------------------
// (e) Orphans
// ---------------------------------------------------------------------------------------

#[test]
fn a_removed_service_is_left_with_a_note_unless_orphans_are_removed() {
    // `debug` has a network of its own, so no other container's name table names it.
    let with_debug = SHOP.replace(
        "\nvolumes:\n",
        "\n  debug:\n    image: busybox\n    networks: [tools]\nnetworks:\n  tools: {}\nvolumes:\n",
    );
    let (_, _, first, _) = fresh(&with_debug, ROUTED);
    let observed = deployed(&first);

    let (_, plan) = check(
        SHOP,
        ROUTED,
        &observed,
        expect![[r#"
        project shop: 6 containers on 3 hosts
        placements:
          api[1]                         h1         shop-api-1
          api[2]                         h2         shop-api-2
          api[3]                         h3         shop-api-3
          db[1]                          h1         shop-db-1
          migrate[1]                     h3         shop-migrate-1
          web[1]                         h1         shop-web-1
        operations: none (up to date)
        note: container shop-debug-1 on h2 belongs to service "debug", which is not in the project; run with --remove-orphans to remove it
    "#]],
    );
    assert!(plan.operations.is_empty(), "{}", plan.to_text());

    let options = ReconcileOptions {
        remove_orphans: true,
        ..ReconcileOptions::default()
    };
    check_with(
        SHOP,
        ROUTED,
        &observed,
        options,
        expect![[r#"
            project shop: 6 containers on 3 hosts
            placements:
              api[1]                         h1         shop-api-1
              api[2]                         h2         shop-api-2
              api[3]                         h3         shop-api-3
              db[1]                          h1         shop-db-1
              migrate[1]                     h3         shop-migrate-1
              web[1]                         h1         shop-web-1
            operations:
              #1   h1       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]
              #2   h2       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]
              #3   h3       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]
              #4   h2       remove container shop-debug-1 (orphan)  after #1 #2 #3
        "#]],
    );
}

// ---------------------------------------------------------------------------------------
// (f) Stopped and one-shot containers
// ---------------------------------------------------------------------------------------

fn set_state(observed: &mut ObservedState, name: &str, state: &str, exit_code: Option<i64>) {
    let container = observed
        .containers
        .iter_mut()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no observed container {name}"));
    container.state = state.to_string();
    container.exit_code = exit_code;
}

#[test]
fn a_stopped_unchanged_container_is_started_and_a_completed_one_shot_is_left() {
    let (_, _, first, _) = fresh(SHOP, ROUTED);
    // (container, its state and exit code) → the plan.
    let cases = [
        // A stopped container is started again, and only that.
        (
            "shop-web-1",
            Some(1),
            expect![[r#"
            project shop: 6 containers on 3 hosts
            placements:
              api[1]                         h1         shop-api-1
              api[2]                         h2         shop-api-2
              api[3]                         h3         shop-api-3
              db[1]                          h1         shop-db-1
              migrate[1]                     h2         shop-migrate-1
              web[1]                         h3         shop-web-1
            operations:
              #1   h3       start shop-web-1
        "#]],
        ),
        // migrate is a one-shot (api waits for it to complete): exited 0 is its goal state.
        (
            "shop-migrate-1",
            Some(0),
            expect![[r#"
            project shop: 6 containers on 3 hosts
            placements:
              api[1]                         h1         shop-api-1
              api[2]                         h2         shop-api-2
              api[3]                         h3         shop-api-3
              db[1]                          h1         shop-db-1
              migrate[1]                     h2         shop-migrate-1
              web[1]                         h3         shop-web-1
            operations: none (up to date)
        "#]],
        ),
        // A long-running service that exited 0 is started again.
        (
            "shop-db-1",
            Some(0),
            expect![[r#"
            project shop: 6 containers on 3 hosts
            placements:
              api[1]                         h1         shop-api-1
              api[2]                         h2         shop-api-2
              api[3]                         h3         shop-api-3
              db[1]                          h1         shop-db-1
              migrate[1]                     h2         shop-migrate-1
              web[1]                         h3         shop-web-1
            operations:
              #1   h1       start shop-db-1
              #2   h1       wait for shop-db-1 healthy  after #1
        "#]],
        ),
    ];
    for (name, exit_code, expect) in cases {
        let mut observed = deployed(&first);
        set_state(&mut observed, name, "exited", exit_code);
        let (second, plan) = check(SHOP, ROUTED, &observed, expect);
        assert!(second.one_shot_services.contains("migrate"));
        if name == "shop-migrate-1" {
            assert!(plan.operations.is_empty(), "{}", plan.to_text());
        }
    }
}

// ---------------------------------------------------------------------------------------
// (g) Routed mode addressing
// ---------------------------------------------------------------------------------------

#[test]
fn routed_mode_name_tables_name_every_service_same_host_replica_first() {
    let (project, _, desired, _) = fresh(SHOP, ROUTED);
    for viewer in &desired.containers {
        for service in project.services.keys() {
            let expected: BTreeSet<Ipv4Addr> = desired
                .containers
                .iter()
                .filter(|c| &c.service == service)
                .map(address_on_default)
                .collect();
            let found = resolves(viewer, service);
            assert_eq!(
                found.iter().copied().collect::<BTreeSet<_>>(),
                expected,
                "{service} in the table of {}",
                viewer.name
            );
            assert_eq!(found.len(), expected.len(), "duplicates in {}", viewer.name);
            // Same-host replica first.
            if let Some(local) = desired
                .containers
                .iter()
                .find(|c| &c.service == service && c.host == viewer.host)
            {
                assert_eq!(
                    found[0],
                    address_on_default(local),
                    "{service} from {}",
                    viewer.name
                );
            }
        }
        // Container names resolve to the one container.
        for peer in &desired.containers {
            assert_eq!(resolves(viewer, &peer.name), [address_on_default(peer)]);
        }
    }
    // api has a replica on every host: every viewer's first `api` is its host's replica.
    let web = container(&desired, "shop-web-1");
    let local_api = desired
        .containers
        .iter()
        .find(|c| c.service == "api" && c.host == web.host)
        .map(address_on_default);
    assert_eq!(resolves(web, "api").first().copied(), local_api);
}

#[test]
fn routed_mode_subnets_are_distinct_inside_the_pool_and_avoid_foreign_networks() {
    let project = project(SHOP);
    let inventory = inventory(ROUTED);
    let pool = Ipv4Cidr::parse("172.30.0.0/16").unwrap();
    let foreign = Ipv4Cidr::parse("172.30.0.0/24").unwrap();
    let observed = ObservedState {
        networks: vec![ObservedNetwork {
            host: "h1".into(),
            name: "other_default".into(),
            subnet: Some(foreign),
            gateway: None,
            project: Some("other".into()),
        }],
        ..ObservedState::default()
    };
    let desired = desired(&project, &inventory, &observed);
    assert_eq!(desired.pool, Some(pool));
    let subnets: Vec<Ipv4Cidr> = desired.networks.iter().filter_map(|n| n.subnet).collect();
    assert_eq!(subnets.len(), 3, "{:?}", desired.networks);
    let hosts: BTreeSet<&str> = desired.networks.iter().map(|n| n.host.as_str()).collect();
    assert_eq!(hosts, BTreeSet::from(["h1", "h2", "h3"]));
    for (index, subnet) in subnets.iter().enumerate() {
        assert_eq!(subnet.prefix, 24);
        assert!(pool.contains(subnet.network), "{subnet} outside {pool}");
        assert!(
            !subnet.overlaps(&foreign),
            "{subnet} collides with {foreign}"
        );
        for other in &subnets[index + 1..] {
            assert!(!subnet.overlaps(other), "{subnet} and {other}");
        }
    }
    // Every address is in its host's subnet, unique, and never the gateway.
    let mut seen = BTreeSet::new();
    for container in &desired.containers {
        let address = address_on_default(container);
        let subnet = desired
            .networks
            .iter()
            .find(|n| n.host == container.host && n.key == "default")
            .and_then(|n| n.subnet)
            .unwrap();
        assert!(subnet.contains(address), "{address} outside {subnet}");
        assert_ne!(Some(address), subnet.address(1), "gateway taken");
        assert!(seen.insert(address), "{address} given twice");
    }
    // Routes: each host reaches the two other hosts' subnets via their addresses.
    for (host, routes) in &desired.routes {
        let own = desired
            .networks
            .iter()
            .find(|n| &n.host == host)
            .and_then(|n| n.subnet)
            .unwrap();
        assert_eq!(routes.len(), 2, "{host}");
        assert!(routes.iter().all(|route| route.subnet != own));
    }
}

#[test]
fn routed_mode_never_gives_a_fixed_address_to_another_container() {
    let compose = "\
name: fixed
services:
  a:
    image: a
    networks:
      default:
        ipv4_address: 172.30.0.2
  b:
    image: b
";
    let one_host = "hosts:\n  h1:\n    docker: tcp://10.0.0.1:2375\n";
    let (_, _, desired, _) = fresh(compose, one_host);
    let a = address_on_default(container(&desired, "fixed-a-1"));
    let b = address_on_default(container(&desired, "fixed-b-1"));
    assert_eq!(a, Ipv4Addr::new(172, 30, 0, 2));
    assert_ne!(b, a);
    assert_eq!(resolves(container(&desired, "fixed-b-1"), "a"), [a]);
}

// ---------------------------------------------------------------------------------------
// (h) Published mode, (i) local mode
// ---------------------------------------------------------------------------------------

#[test]
fn published_mode_names_resolve_to_host_addresses() {
    let project = project(SHOP);
    let inventory = inventory(PUBLISHED);
    // No subnets, no routes.
    let (desired, _) = check(
        SHOP,
        PUBLISHED,
        &ObservedState::default(),
        expect![[r#"
            project shop: 6 containers on 3 hosts
            placements:
              api[1]                         h1         shop-api-1
              api[2]                         h2         shop-api-2
              api[3]                         h3         shop-api-3
              db[1]                          h1         shop-db-1
              migrate[1]                     h2         shop-migrate-1
              web[1]                         h3         shop-web-1
            operations:
              #1   h1       create network shop_default
              #2   h2       create network shop_default
              #3   h3       create network shop_default
              #4   h1       create volume shop_pgdata
              #5   h1       ensure image shop/api:1
              #6   h2       ensure image shop/api:1
              #7   h3       ensure image shop/api:1
              #8   h1       ensure image postgres:16
              #9   h3       ensure image nginx:1.27
              #10  h1       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]  after #5 #8
              #11  h2       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]  after #6
              #12  h3       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]  after #7 #9
              #13  h1       create container shop-api-1 (new)  after #1 #4 #5 #10 #11 #12
              #14  h2       create container shop-api-2 (new)  after #2 #6 #10 #11 #12
              #15  h3       create container shop-api-3 (new)  after #3 #7 #10 #11 #12
              #16  h1       create container shop-db-1 (new)  after #1 #4 #8 #10 #11 #12
              #17  h2       create container shop-migrate-1 (new)  after #2 #6 #10 #11 #12
              #18  h3       create container shop-web-1 (new)  after #3 #9 #10 #11 #12
              #19  h1       start shop-db-1  after #16
              #20  h1       wait for shop-db-1 healthy  after #19
              #21  h2       start shop-migrate-1  after #17 #20
              #22  h2       wait for shop-migrate-1 to complete  after #21
              #23  h1       start shop-api-1  after #13 #20 #22
              #24  h2       start shop-api-2  after #14 #20 #22
              #25  h3       start shop-api-3  after #15 #20 #22
              #26  h3       start shop-web-1  after #18 #23 #24 #25
        "#]],
    );
    let host_address = |host: &str| -> Ipv4Addr {
        inventory
            .host(host)
            .and_then(|h| h.address.as_deref())
            .and_then(|a| a.parse().ok())
            .unwrap()
    };
    assert!(desired.pool.is_none());
    assert!(desired.routes.is_empty());
    assert!(desired.networks.iter().all(|n| n.subnet.is_none()));
    for viewer in &desired.containers {
        assert!(viewer.networks.iter().all(|n| n.ipv4_address.is_none()));
        for service in project.services.keys() {
            let expected: BTreeSet<Ipv4Addr> = desired
                .containers
                .iter()
                .filter(|c| &c.service == service)
                .map(|c| host_address(&c.host))
                .collect();
            let found = resolves(viewer, service);
            assert_eq!(found.iter().copied().collect::<BTreeSet<_>>(), expected);
            if expected.contains(&host_address(&viewer.host)) {
                assert_eq!(found[0], host_address(&viewer.host), "{}", viewer.name);
            }
        }
    }
    let web = container(&desired, "shop-web-1");
    assert_eq!(
        resolves(web, "shop-db-1"),
        [host_address(&container(&desired, "shop-db-1").host)]
    );
}

#[test]
fn local_mode_uses_docker_dns() {
    let project = project(SHOP);
    let inventory = Inventory::local(None).unwrap();
    let desired = desired(&project, &inventory, &ObservedState::default());
    assert!(desired.pool.is_none());
    assert!(desired.routes.is_empty());
    assert_eq!(desired.containers.len(), 6);
    for container in &desired.containers {
        assert_eq!(container.host, "local");
        assert!(container.extra_hosts.is_empty(), "{}", container.name);
        assert!(container.networks.iter().all(|n| n.ipv4_address.is_none()));
        assert_eq!(container.networks[0].aliases[0], container.service);
    }
    assert!(desired.networks.iter().all(|n| n.subnet.is_none()));
    // One network, no routes.
    let plan = reconcile(
        &desired,
        &ObservedState::default(),
        ReconcileOptions::default(),
    );
    expect![[r#"
        project shop: 6 containers on 1 hosts
        placements:
          api[1]                         local      shop-api-1
          api[2]                         local      shop-api-2
          api[3]                         local      shop-api-3
          db[1]                          local      shop-db-1
          migrate[1]                     local      shop-migrate-1
          web[1]                         local      shop-web-1
        operations:
          #1   local    create network shop_default
          #2   local    create volume shop_pgdata
          #3   local    ensure image shop/api:1
          #4   local    ensure image postgres:16
          #5   local    ensure image nginx:1.27
          #6   local    create container shop-api-1 (new)  after #1 #2 #3
          #7   local    create container shop-api-2 (new)  after #1 #2 #3
          #8   local    create container shop-api-3 (new)  after #1 #2 #3
          #9   local    create container shop-db-1 (new)  after #1 #2 #4
          #10  local    create container shop-migrate-1 (new)  after #1 #2 #3
          #11  local    create container shop-web-1 (new)  after #1 #2 #5
          #12  local    start shop-db-1  after #9
          #13  local    wait for shop-db-1 healthy  after #12
          #14  local    start shop-migrate-1  after #10 #13
          #15  local    wait for shop-migrate-1 to complete  after #14
          #16  local    start shop-api-1  after #6 #13 #15
          #17  local    start shop-api-2  after #7 #13 #15
          #18  local    start shop-api-3  after #8 #13 #15
          #19  local    start shop-web-1  after #11 #16 #17 #18
    "#]]
    .assert_eq(&plan.to_text());
}

// ---------------------------------------------------------------------------------------
// (j) config_hash
// ---------------------------------------------------------------------------------------

fn service(compose: &str, name: &str) -> Service {
    project(compose).services[name].clone()
}

#[test]
fn config_hash_is_stable_and_ignores_scaling_and_placement() {
    let one = "\
services:
  api:
    image: shop/api:1
    environment: {A: '1', B: '2'}
    ports: ['8080:80']
    labels: {x: y}
    command: serve --port 80
";
    let reordered = "\
services:
  api:
    command: [serve, --port, '80']
    labels:
      x: y
    ports:
      - 8080:80
    environment:
      - B=2
      - A=1
    image: shop/api:1
";
    let base = config_hash(&service(one, "api"));
    assert_eq!(base.len(), 64);
    assert!(base.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(config_hash(&service(reordered, "api")), base);

    // The environment is part of the container.
    let changed = one.replace("B: '2'", "B: '3'");
    assert_ne!(config_hash(&service(&changed, "api")), base);
    let changed = one.replace("image: shop/api:1", "image: shop/api:2");
    assert_ne!(config_hash(&service(&changed, "api")), base);

    // Replica counts and placement are not.
    for scaled in [
        format!("{one}    scale: 3\n"),
        format!("{one}    deploy:\n      replicas: 5\n"),
        format!(
            "{one}    deploy:\n      placement:\n        constraints: ['node.labels.zone==a']\n        max_replicas_per_node: 1\n"
        ),
        format!("{one}    deploy:\n      replicas: 2\n      update_config: {{parallelism: 1}}\n"),
    ] {
        assert_eq!(config_hash(&service(&scaled, "api")), base, "{scaled}");
    }
    // Nor are profiles (a service with one is disabled at load unless enabled, so set it).
    let mut profiled = service(one, "api");
    profiled.profiles = vec!["extra".to_string()];
    assert_eq!(config_hash(&profiled), base);
    // ... and depends_on does not change the container either.
    let with_dependency = format!("{one}    depends_on: [db]\n  db:\n    image: postgres\n");
    assert_eq!(config_hash(&service(&with_dependency, "api")), base);

    // Resource limits do.
    let limited = format!("{one}    deploy:\n      resources:\n        limits: {{memory: 256M}}\n");
    assert_ne!(config_hash(&service(&limited, "api")), base);
}

#[test]
fn scaling_a_service_that_had_no_deploy_section_recreates_nothing() {
    let compose = SHOP.replace("    deploy:\n      replicas: 3\n", "");
    let (_, _, first, _) = fresh(&compose, ROUTED);
    // Only the new replica is created (and the peers' name tables patched).
    check(
        &compose.replace("  api:\n", "  api:\n    deploy: {replicas: 2}\n"),
        ROUTED,
        &deployed(&first),
        expect![[r#"
            project shop: 5 containers on 3 hosts
            placements:
              api[1]                         h1         shop-api-1
              api[2]                         h2         shop-api-2
              db[1]                          h2         shop-db-1
              migrate[1]                     h3         shop-migrate-1
              web[1]                         h1         shop-web-1
            operations:
              #1   h2       ensure routes [172.30.0.0/24 via 10.0.0.1, 172.30.2.0/24 via 10.0.0.3]
              #2   h2       ensure image shop/api:1
              #3   h1       write hosts files [v-aa371ae5efde7003.hosts (10 entries)]
              #4   h2       write hosts files [v-aa371ae5efde7003.hosts (10 entries)]  after #2
              #5   h3       write hosts files [v-aa371ae5efde7003.hosts (10 entries)]
              #6   h2       create container shop-api-2 (new)  after #2 #3 #4 #5
              #7   h2       start shop-api-2  after #1 #6
        "#]],
    );
}

// ---------------------------------------------------------------------------------------
// (k) teardown
// ---------------------------------------------------------------------------------------

#[test]
fn teardown_removes_containers_then_the_project_networks() {
    let (_, _, desired, _) = fresh(SHOP, ROUTED);
    let mut observed = deployed(&desired);
    observed.networks.push(ObservedNetwork {
        host: "h1".into(),
        name: "other_default".into(),
        subnet: Some(Ipv4Cidr::parse("172.31.0.0/24").unwrap()),
        gateway: None,
        project: Some("other".into()),
    });
    observed.networks.push(ObservedNetwork {
        host: "h2".into(),
        name: "bridge".into(),
        subnet: Some(Ipv4Cidr::parse("172.17.0.0/16").unwrap()),
        gateway: None,
        project: None,
    });
    let plan = teardown("shop", &observed, TeardownOptions::default());
    // Every container, then the project's networks; the other project's network and
    // Docker's own stay.
    expect![[r#"
        project shop: 0 containers on 0 hosts
        placements:
        operations:
          #1   h1       remove container shop-api-1 (down)
          #2   h2       remove container shop-api-2 (down)
          #3   h3       remove container shop-api-3 (down)
          #4   h1       remove container shop-db-1 (down)
          #5   h2       remove container shop-migrate-1 (down)
          #6   h3       remove container shop-web-1 (down)
          #7   h1       remove hosts files /var/lib/nap/shop/h1/[v-aa371ae5efde7003.hosts]  after #1 #4
          #8   h2       remove hosts files /var/lib/nap/shop/h2/[v-aa371ae5efde7003.hosts]  after #2 #5
          #9   h3       remove hosts files /var/lib/nap/shop/h3/[v-aa371ae5efde7003.hosts]  after #3 #6
          #10  h1       remove network shop_default  after #1 #4
          #11  h2       remove network shop_default  after #2 #5
          #12  h3       remove network shop_default  after #3 #6
    "#]]
    .assert_eq(&plan.to_text());
    // Each network goes after every container of its host.
    for planned in &plan.operations {
        if let Operation::RemoveNetwork { host, .. } = &planned.operation {
            let on_host: Vec<usize> = plan
                .operations
                .iter()
                .filter(|o| {
                    matches!(&o.operation, Operation::RemoveContainer { host: h, .. } if h == host)
                })
                .map(|o| o.id)
                .collect();
            assert!(!on_host.is_empty());
            assert_eq!(planned.after, on_host, "{}", plan.to_text());
        }
    }
    // Nothing observed: nothing to do.
    assert!(
        teardown(
            "shop",
            &ObservedState::default(),
            TeardownOptions::default()
        )
        .operations
        .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// (l) Determinism
// ---------------------------------------------------------------------------------------

#[test]
fn planning_is_deterministic_whatever_the_inventory_order() {
    let project = project(SHOP);
    let inventory = inventory(ROUTED);
    let once = desired(&project, &inventory, &ObservedState::default());
    let twice = desired(&project, &inventory, &ObservedState::default());
    assert_eq!(once, twice);
    let shuffled = desired(
        &project,
        &self::inventory(ROUTED_SHUFFLED),
        &ObservedState::default(),
    );
    assert_eq!(shuffled, once);
    let plan = |desired: &DesiredState| {
        reconcile(
            desired,
            &ObservedState::default(),
            ReconcileOptions::default(),
        )
    };
    assert_eq!(placements(&plan(&shuffled)), placements(&plan(&once)));
    assert_eq!(plan(&shuffled).to_text(), plan(&once).to_text());
    // Spread: api's three replicas on three hosts.
    let api_hosts: BTreeSet<&str> = once
        .containers
        .iter()
        .filter(|c| c.service == "api")
        .map(|c| c.host.as_str())
        .collect();
    assert_eq!(api_hosts.len(), 3);
    // Labels carry what `nap ps` reads.
    let api = container(&once, "shop-api-2");
    assert_eq!(
        api.labels,
        BTreeMap::from([
            ("nap.config-hash".to_string(), api.config_hash.clone()),
            ("nap.host".to_string(), api.host.clone()),
            ("nap.project".to_string(), "shop".to_string()),
            ("nap.replica".to_string(), "2".to_string()),
            ("nap.service".to_string(), "api".to_string()),
        ])
    );
}

#[test]
fn routed_teardown_removes_routes_before_networks_and_volumes_only_when_asked() {
    let (_, _, desired, _) = fresh(SHOP, ROUTED);
    let mut observed = deployed(&desired);
    observed
        .project_volumes
        .insert(("h1".to_string(), "shop_data".to_string()));
    let options = TeardownOptions {
        volumes: false,
        routed: true,
    };
    let plan = teardown("shop", &observed, options);
    // Routes on every host, before the networks; the volume stays.
    expect![[r#"
        project shop: 0 containers on 0 hosts
        placements:
        operations:
          #1   h1       remove container shop-api-1 (down)
          #2   h2       remove container shop-api-2 (down)
          #3   h3       remove container shop-api-3 (down)
          #4   h1       remove container shop-db-1 (down)
          #5   h2       remove container shop-migrate-1 (down)
          #6   h3       remove container shop-web-1 (down)
          #7   h1       remove hosts files /var/lib/nap/shop/h1/[v-aa371ae5efde7003.hosts]  after #1 #4
          #8   h2       remove hosts files /var/lib/nap/shop/h2/[v-aa371ae5efde7003.hosts]  after #2 #5
          #9   h3       remove hosts files /var/lib/nap/shop/h3/[v-aa371ae5efde7003.hosts]  after #3 #6
          #10  h1       remove routes [172.30.1.0/24, 172.30.2.0/24]
          #11  h2       remove routes [172.30.0.0/24, 172.30.2.0/24]
          #12  h3       remove routes [172.30.0.0/24, 172.30.1.0/24]
          #13  h1       remove network shop_default  after #1 #4 #10 #11 #12
          #14  h2       remove network shop_default  after #2 #5 #10 #11 #12
          #15  h3       remove network shop_default  after #3 #6 #10 #11 #12
    "#]]
    .assert_eq(&plan.to_text());
    // Each host drops the routes to the two other hosts' subnets, never its own.
    for planned in &plan.operations {
        if let Operation::RemoveRoutes { host, subnets } = &planned.operation {
            assert_eq!(subnets.len(), 2);
            let own = observed
                .networks
                .iter()
                .find(|n| &n.host == host && n.project.as_deref() == Some("shop"))
                .and_then(|n| n.subnet)
                .unwrap();
            assert!(!subnets.contains(&own));
        }
    }
    let route_ids: Vec<usize> = plan
        .operations
        .iter()
        .filter(|o| matches!(o.operation, Operation::RemoveRoutes { .. }))
        .map(|o| o.id)
        .collect();
    for planned in &plan.operations {
        if let Operation::RemoveNetwork { .. } = planned.operation {
            for id in &route_ids {
                assert!(planned.after.contains(id), "{}", plan.to_text());
            }
        }
    }
    let plan = teardown(
        "shop",
        &observed,
        TeardownOptions {
            volumes: true,
            routed: true,
        },
    );
    // With volumes: shop_data goes too.
    expect![[r#"
        project shop: 0 containers on 0 hosts
        placements:
        operations:
          #1   h1       remove container shop-api-1 (down)
          #2   h2       remove container shop-api-2 (down)
          #3   h3       remove container shop-api-3 (down)
          #4   h1       remove container shop-db-1 (down)
          #5   h2       remove container shop-migrate-1 (down)
          #6   h3       remove container shop-web-1 (down)
          #7   h1       remove hosts files /var/lib/nap/shop/h1/[v-aa371ae5efde7003.hosts]  after #1 #4
          #8   h2       remove hosts files /var/lib/nap/shop/h2/[v-aa371ae5efde7003.hosts]  after #2 #5
          #9   h3       remove hosts files /var/lib/nap/shop/h3/[v-aa371ae5efde7003.hosts]  after #3 #6
          #10  h1       remove routes [172.30.1.0/24, 172.30.2.0/24]
          #11  h2       remove routes [172.30.0.0/24, 172.30.2.0/24]
          #12  h3       remove routes [172.30.0.0/24, 172.30.1.0/24]
          #13  h1       remove network shop_default  after #1 #4 #10 #11 #12
          #14  h2       remove network shop_default  after #2 #5 #10 #11 #12
          #15  h3       remove network shop_default  after #3 #6 #10 #11 #12
          #16  h1       remove volume shop_data  after #1 #4
          #17  h1       remove volume shop_pgdata  after #1 #4
    "#]]
    .assert_eq(&plan.to_text());
}

// ---------------------------------------------------------------------------------------
// rollouts (deploy.update_config)
// ---------------------------------------------------------------------------------------

fn with_update_config(config: &str) -> String {
    SHOP.replace(
        "    deploy:\n      replicas: 3\n",
        &format!("    deploy:\n      replicas: 3\n      update_config: {config}\n"),
    )
}

#[test]
fn a_stop_first_rollout_replaces_replicas_in_batches_keeping_their_addresses() {
    let compose = with_update_config("{parallelism: 2, delay: 1s, failure_action: rollback}");
    let (_, inventory, first, _) = fresh(&compose, ROUTED);
    let observed = deployed(&first);
    // Nothing else happens to the replicas: no remove, create or start, and addresses stay,
    // so no peer is patched and nothing is retired.
    let (second, plan) = check(
        &compose.replace("DB_HOST: db", "DB_HOST: db.internal"),
        ROUTED,
        &observed,
        expect![[r#"
            project shop: 6 containers on 3 hosts
            placements:
              api[1]                         h1         shop-api-1
              api[2]                         h2         shop-api-2
              api[3]                         h3         shop-api-3
              db[1]                          h1         shop-db-1
              migrate[1]                     h2         shop-migrate-1
              web[1]                         h3         shop-web-1
            operations:
              #1   h1       ensure routes [172.30.1.0/24 via 10.0.0.2, 172.30.2.0/24 via 10.0.0.3]
              #2   h2       ensure routes [172.30.0.0/24 via 10.0.0.1, 172.30.2.0/24 via 10.0.0.3]
              #3   h3       ensure routes [172.30.0.0/24 via 10.0.0.1, 172.30.1.0/24 via 10.0.0.2]
              #4   h1       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]
              #5   h2       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]
              #6   h3       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]
              #7   h1       replace shop-api-1 (stop-first, monitor 5000 ms)  after #1 #4 #5 #6
              #8   h2       replace shop-api-2 (stop-first, monitor 5000 ms)  after #2 #4 #5 #6
              #9   h3       replace shop-api-3 (stop-first, monitor 5000 ms)  after #3 #4 #5 #6 #7 #8
        "#]],
    );
    let replaces: Vec<&PlannedOperation> = plan
        .operations
        .iter()
        .filter(|o| matches!(o.operation, Operation::ReplaceContainer { .. }))
        .collect();
    assert_eq!(replaces.len(), 3, "{}", plan.to_text());
    // Replicas 1 and 2 go at once; replica 3 after both, after the delay.
    let delays: Vec<u64> = replaces
        .iter()
        .map(|o| match &o.operation {
            Operation::ReplaceContainer { delay_ms, .. } => *delay_ms,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(delays, [0, 0, 1000]);
    assert!(replaces[2].after.contains(&replaces[0].id));
    assert!(replaces[2].after.contains(&replaces[1].id));
    assert!(!replaces[1].after.contains(&replaces[0].id));
    for (before, after) in first.containers.iter().zip(&second.containers) {
        assert_eq!(before.networks, after.networks);
    }
    // A service without update_config is still recreated all at once.
    let plain = reconcile(
        &desired(
            &project(&SHOP.replace("DB_HOST: db", "DB_HOST: db.internal")),
            &inventory,
            &deployed(&fresh(SHOP, ROUTED).2),
        ),
        &deployed(&fresh(SHOP, ROUTED).2),
        ReconcileOptions::default(),
    );
    assert!(
        !plain
            .operations
            .iter()
            .any(|o| matches!(o.operation, Operation::ReplaceContainer { .. })),
        "{}",
        plain.to_text()
    );
}

#[test]
fn a_start_first_rollout_gives_new_addresses_then_switches_peers_then_retires_the_old() {
    let compose = with_update_config("{order: start-first, monitor: 2s}");
    let (_, inventory, first, _) = fresh(&compose, ROUTED);
    let observed = deployed(&first);
    let changed = project(&compose.replace("DB_HOST: db", "DB_HOST: db.internal"));
    let second = desired(&changed, &inventory, &observed);
    // New containers run beside the old ones, so they get addresses of their own.
    for (before, after) in first.containers.iter().zip(&second.containers) {
        assert_eq!(before.name, after.name);
        if after.service == "api" {
            assert_ne!(
                before.networks[0].ipv4_address, after.networks[0].ipv4_address,
                "{}",
                after.name
            );
        } else {
            assert_eq!(before.networks, after.networks);
        }
    }
    let plan = reconcile(&second, &observed, ReconcileOptions::default());
    expect![[r#"
        project shop: 6 containers on 3 hosts
        placements:
          api[1]                         h1         shop-api-1
          api[2]                         h2         shop-api-2
          api[3]                         h3         shop-api-3
          db[1]                          h1         shop-db-1
          migrate[1]                     h2         shop-migrate-1
          web[1]                         h3         shop-web-1
        operations:
          #1   h1       ensure routes [172.30.1.0/24 via 10.0.0.2, 172.30.2.0/24 via 10.0.0.3]
          #2   h2       ensure routes [172.30.0.0/24 via 10.0.0.1, 172.30.2.0/24 via 10.0.0.3]
          #3   h3       ensure routes [172.30.0.0/24 via 10.0.0.1, 172.30.1.0/24 via 10.0.0.2]
          #4   h1       replace shop-api-1 (start-first, monitor 2000 ms)  after #1
          #5   h2       replace shop-api-2 (start-first, monitor 2000 ms)  after #2 #4
          #6   h3       replace shop-api-3 (start-first, monitor 2000 ms)  after #3 #5
          #7   h1       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]  after #4 #5 #6
          #8   h2       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]  after #4 #5 #6
          #9   h3       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]  after #4 #5 #6
          #10  h1       retire shop-api-1-old-id-shop-api-  after #4 #7 #8 #9
          #11  h2       retire shop-api-2-old-id-shop-api-  after #5 #7 #8 #9
          #12  h3       retire shop-api-3-old-id-shop-api-  after #6 #7 #8 #9
    "#]]
    .assert_eq(&plan.to_text());
    let ids = |kind: fn(&Operation) -> bool| -> Vec<usize> {
        plan.operations
            .iter()
            .filter(|o| kind(&o.operation))
            .map(|o| o.id)
            .collect()
    };
    let (replaces, patches, retires) = (
        ids(|o| matches!(o, Operation::ReplaceContainer { .. })),
        ids(|o| matches!(o, Operation::WriteHostsFiles { .. })),
        ids(|o| matches!(o, Operation::RetireContainer { .. })),
    );
    assert_eq!(
        (replaces.len(), retires.len()),
        (3, 3),
        "{}",
        plan.to_text()
    );
    // Default parallelism 1: one replica after another.
    assert!(
        plan.operations[replaces[1] - 1]
            .after
            .contains(&replaces[0])
    );
    // Every host's files (one write per host) switch only after all replacements are up,
    // and the old containers go only after every switch.
    assert_eq!(patches.len(), 3, "{}", plan.to_text());
    for patch in &patches {
        for replace in &replaces {
            assert!(plan.operations[patch - 1].after.contains(replace));
        }
    }
    for retire in &retires {
        for patch in &patches {
            assert!(plan.operations[retire - 1].after.contains(patch));
        }
    }
}

/// Services on two networks, with links, network aliases, a hostname and a container_name:
/// every rule of the name table at work.
const WIRED: &str = "\
name: wired
services:
  front:
    image: nginx:1.27
    deploy: {replicas: 3}
    networks: [edge]
  api:
    image: shop/api:1
    deploy: {replicas: 4}
    hostname: api-host
    links: ['db:database', cache]
    networks:
      edge: {aliases: [backend]}
      inner: {}
  db:
    image: postgres:16
    container_name: the-db
    networks:
      inner: {aliases: [pg, primary]}
  cache:
    image: redis:7
    deploy: {replicas: 2}
    networks: [inner]
networks:
  edge: {}
  inner: {}
";

/// A viewer's name table by its definition, peer by peer (the reference the shared,
/// once-per-view computation in `desired_state` must match).
fn reference_table(
    project: &Project,
    inventory: &Inventory,
    viewer: &DesiredContainer,
    containers: &[DesiredContainer],
) -> Vec<(String, Ipv4Addr)> {
    let viewer_networks: BTreeSet<&str> = viewer.networks.iter().map(|n| n.key.as_str()).collect();
    let mut link_aliases: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for link in &project.services[&viewer.service].links {
        let (target, alias) = link.split_once(':').unwrap_or((link, link));
        link_aliases.entry(target).or_default().push(alias);
    }
    let mut ordered: Vec<&DesiredContainer> = containers.iter().collect();
    ordered.sort_by_key(|peer| (peer.host != viewer.host, peer.service.clone(), peer.replica));
    let mut entries: Vec<(String, Ipv4Addr)> = Vec::new();
    for peer in ordered {
        let shared: Vec<_> = peer
            .networks
            .iter()
            .filter(|n| viewer_networks.contains(n.key.as_str()))
            .collect();
        let Some(first) = shared.first() else {
            continue;
        };
        let address = match inventory.network.mode {
            nap_core::inventory::NetworkMode::Routed => first.ipv4_address.unwrap(),
            _ => inventory
                .host(&peer.host)
                .unwrap()
                .address
                .as_deref()
                .unwrap()
                .parse()
                .unwrap(),
        };
        let mut names = vec![peer.service.clone(), peer.name.clone()];
        names.extend(project.services[&peer.service].hostname.clone());
        for attachment in &shared {
            names.extend(attachment.aliases.iter().skip(1).cloned());
        }
        for alias in link_aliases
            .get(peer.service.as_str())
            .into_iter()
            .flatten()
        {
            names.push(alias.to_string());
        }
        for name in names {
            if !entries.contains(&(name.clone(), address)) {
                entries.push((name, address));
            }
        }
    }
    // Grouped by name, in first-seen order.
    let mut names: Vec<String> = Vec::new();
    for (name, _) in &entries {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
        .iter()
        .flat_map(|name| entries.iter().filter(move |(n, _)| n == name).cloned())
        .collect()
}

#[test]
fn name_tables_follow_their_definition_and_are_shared_by_containers_with_the_same_view() {
    for hosts in [ROUTED, PUBLISHED] {
        let (project, inventory, desired, _) = fresh(WIRED, hosts);
        for viewer in &desired.containers {
            let table: Vec<(String, Ipv4Addr)> = viewer
                .extra_hosts
                .iter()
                .map(|entry| (entry.name.clone(), entry.address))
                .collect();
            assert_eq!(
                table,
                reference_table(&project, &inventory, viewer, &desired.containers),
                "{}",
                viewer.name
            );
        }
        // Replicas of one service on one host see the same table: one allocation, shared.
        for a in &desired.containers {
            for b in &desired.containers {
                if a.service == b.service && a.host == b.host {
                    assert!(std::sync::Arc::ptr_eq(&a.extra_hosts, &b.extra_hosts));
                }
            }
        }
        // cache and db see the same peers (inner only, no links): shared across services.
        let db = container(&desired, "the-db");
        if let Some(cache) = desired
            .containers
            .iter()
            .find(|c| c.service == "cache" && c.host == db.host)
        {
            assert!(std::sync::Arc::ptr_eq(&db.extra_hosts, &cache.extra_hosts));
        }
        // api links db as `database`: its table differs from cache's on the same host.
        let api = desired
            .containers
            .iter()
            .find(|c| c.service == "api")
            .unwrap();
        assert!(resolves(api, "database").len() == 1);
    }
}

#[test]
fn extra_hosts_text_is_name_colon_address() {
    use nap_core::plan::HostEntry;
    for address in ["0.0.0.0", "9.10.99.100", "172.30.255.2", "255.255.255.255"] {
        let entry = HostEntry {
            name: "web".to_string(),
            address: address.parse().unwrap(),
        };
        assert_eq!(entry.extra_host(), format!("web:{address}"));
        assert!(entry.is_extra_host(&format!("web:{address}")));
        assert!(!entry.is_extra_host(&format!("we:{address}")));
        assert!(!entry.is_extra_host(&format!("web:{address}1")));
    }
}

/// The hosts files of a deployment: one per host and view, named by the view, each holding
/// its view's table; every container of a view reads it; a scale-up writes every host's files
/// once (one operation per host) before any container comes, and a second `up` writes none.
#[test]
fn hosts_files_are_one_per_host_and_view_and_written_once_per_host_per_change() {
    for hosts in [ROUTED, PUBLISHED] {
        let (shop, inventory, first, plan) = fresh(SHOP, hosts);
        let hosts_of: BTreeSet<&str> = first.containers.iter().map(|c| c.host.as_str()).collect();
        let files: BTreeSet<(&str, &str)> = first
            .hosts_files
            .iter()
            .map(|f| (f.host.as_str(), f.file.as_str()))
            .collect();
        assert_eq!(files.len(), first.hosts_files.len(), "no file twice");
        for container in &first.containers {
            let file = container.hosts_file.as_deref().expect("a hosts file");
            assert!(nap_core::hosts_file::is_view_file_name(file), "{file}");
            let desired_file = first
                .hosts_files
                .iter()
                .find(|f| f.host == container.host && f.file == file)
                .expect("the file is planned on the container's host");
            assert_eq!(*desired_file.table, *container.extra_hosts);
        }
        let writes: Vec<&PlannedOperation> = plan
            .operations
            .iter()
            .filter(|o| matches!(o.operation, Operation::WriteHostsFiles { .. }))
            .collect();
        assert_eq!(writes.len(), hosts_of.len(), "{}", plan.to_text());
        // Every create waits for every host's write.
        for op in &plan.operations {
            if matches!(op.operation, Operation::CreateContainer { .. }) {
                for write in &writes {
                    assert!(op.after.contains(&write.id), "{}", plan.to_text());
                }
            }
        }
        // Unchanged: nothing written.
        let observed = deployed(&first);
        let again = reconcile(
            &desired(&shop, &inventory, &observed),
            &observed,
            ReconcileOptions::default(),
        );
        assert!(again.operations.is_empty(), "{}", again.to_text());
        // A fourth api replica: one write per host (the new replica's host included), the
        // create after all of them, and nothing done to the running peers.
        let scaled = project(&SHOP.replace("replicas: 3", "replicas: 4"));
        let scaled_desired = desired(&scaled, &inventory, &observed);
        let scale_plan = reconcile(&scaled_desired, &observed, ReconcileOptions::default());
        let kinds: Vec<&str> = scale_plan
            .operations
            .iter()
            .map(|o| match o.operation {
                Operation::WriteHostsFiles { .. } => "write",
                Operation::CreateContainer { .. } => "create",
                Operation::StartContainer { .. } => "start",
                Operation::EnsureRoutes { .. } => "routes",
                _ => "other",
            })
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "write").count(),
            hosts_of.len(),
            "{}",
            scale_plan.to_text()
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == "create").count(),
            1,
            "{}",
            scale_plan.to_text()
        );
        assert!(!kinds.contains(&"other"), "{}", scale_plan.to_text());
        let new_api = container(&scaled_desired, "shop-api-4");
        for file in &scaled_desired.hosts_files {
            if file.table.iter().any(|e| e.name == "shop-api-1") {
                assert!(
                    file.table.iter().any(|e| e.name == "shop-api-4"),
                    "{} {}",
                    file.host,
                    file.file
                );
            }
        }
        assert!(new_api.hosts_file.is_some());
        // Scaling down writes every host's files before the container goes.
        let down = reconcile(
            &desired(&shop, &inventory, &deployed(&scaled_desired)),
            &deployed(&scaled_desired),
            ReconcileOptions::default(),
        );
        let write_ids: Vec<usize> = down
            .operations
            .iter()
            .filter(|o| matches!(o.operation, Operation::WriteHostsFiles { .. }))
            .map(|o| o.id)
            .collect();
        let removal = down
            .operations
            .iter()
            .find(|o| matches!(o.operation, Operation::RemoveContainer { .. }))
            .expect("a removal");
        assert_eq!(write_ids.len(), hosts_of.len(), "{}", down.to_text());
        for id in &write_ids {
            assert!(removal.after.contains(id), "{}", down.to_text());
        }
    }
}

#[test]
fn a_container_of_an_older_nap_or_another_view_is_recreated() {
    let (shop, inventory, first, _) = fresh(SHOP, ROUTED);
    let mut observed = deployed(&first);
    // Made by an older nap: no `nap.hosts-file` label (its table was in `extra_hosts`).
    observed.containers[0].hosts_file = None;
    let plan = reconcile(
        &desired(&shop, &inventory, &observed),
        &observed,
        ReconcileOptions::default(),
    );
    let text = plan.to_text();
    assert!(text.contains("(hosts file changed)"), "{text}");
    assert!(text.contains("write hosts files"), "{text}");
}

/// Each container's fate as a table: what the host holds under its name → what the plan does.
#[test]
fn a_containers_fate_follows_what_its_host_holds() {
    use nap_core::plan::{Fate, fate};
    let (_, _, desired, _) = fresh(SHOP, ROUTED);
    let db = container(&desired, "shop-db-1").clone();
    let migrate = container(&desired, "shop-migrate-1").clone();
    let other_host = ["h1", "h2", "h3"]
        .into_iter()
        .find(|host| *host != db.host)
        .unwrap();
    type Change = fn(&mut ObservedContainer, &str);
    let cases: [(&str, &DesiredContainer, Change, bool); 9] = [
        ("as deployed", &db, |_, _| {}, false),
        ("stopped", &db, |c, _| c.state = "exited".into(), false),
        (
            "one-shot completed",
            &migrate,
            |c, _| {
                c.state = "exited".into();
                c.exit_code = Some(0);
            },
            false,
        ),
        (
            "one-shot failed",
            &migrate,
            |c, _| {
                c.state = "exited".into();
                c.exit_code = Some(1);
            },
            false,
        ),
        (
            "config changed",
            &db,
            |c, _| c.config_hash = "old".into(),
            false,
        ),
        ("forced", &db, |_, _| {}, true),
        ("moved", &db, |c, other| c.host = other.into(), false),
        ("older nap, running", &db, |c, _| c.hosts_file = None, false),
        (
            "other file, stopped",
            &db,
            |c, _| {
                c.hosts_file = Some("v-0000000000000000.hosts".into());
                c.state = "exited".into();
            },
            false,
        ),
    ];
    let mut table = String::new();
    for (case, wanted, change, force_recreate) in cases {
        let mut observed = deployed(&desired);
        for existing in &mut observed.containers {
            if existing.name == wanted.name {
                change(existing, other_host);
            }
        }
        let options = ReconcileOptions {
            force_recreate,
            ..ReconcileOptions::default()
        };
        let text = match fate(wanted, &desired, &observed, options) {
            Fate::Keep => "keep".to_string(),
            Fate::Start => "start".to_string(),
            Fate::Create { reason, replaces } => format!(
                "create ({}){}",
                reason.replace(other_host, "<other host>"),
                replaces.map_or(String::new(), |old| format!(", replacing {}", old.id))
            ),
            Fate::Replace(existing) => format!("replace {}", existing.id),
        };
        table.push_str(&format!("{case:<20} {:<15} {text}\n", wanted.name));
    }
    expect![[r#"
        as deployed          shop-db-1       keep
        stopped              shop-db-1       start
        one-shot completed   shop-migrate-1  keep
        one-shot failed      shop-migrate-1  start
        config changed       shop-db-1       create (config changed), replacing id-shop-db-1
        forced               shop-db-1       create (forced), replacing id-shop-db-1
        moved                shop-db-1       create (moved from <other host>)
        older nap, running   shop-db-1       create (hosts file changed), replacing id-shop-db-1
        other file, stopped  shop-db-1       create (hosts file changed), replacing id-shop-db-1
    "#]]
    .assert_eq(&table);
}

// ---------------------------------------------------------------------------------------
// `nap up SERVICE…`: the part of the plan for some services
// ---------------------------------------------------------------------------------------

#[test]
fn up_of_some_services_plans_them_and_their_dependencies_only() {
    use nap_core::graph::DependencyGraph;
    use nap_core::plan::select::{only_services, with_dependencies};

    let (shop, _, first, _) = fresh(SHOP, ROUTED);
    let graph = DependencyGraph::from_project(&shop);
    let named = ["migrate".to_string()];
    assert_eq!(
        with_dependencies(&graph, &named, true),
        BTreeSet::from(["db".to_string(), "migrate".to_string()])
    );
    assert_eq!(
        with_dependencies(&graph, &named, false),
        BTreeSet::from(["migrate".to_string()])
    );

    // Every service changed: `up migrate` recreates migrate and db, not api or web.
    let observed = deployed(&first);
    let changed = SHOP
        .replace("postgres:16", "postgres:17")
        .replace("command: migrate", "command: [migrate, --all]");
    let desired = desired(&project(&changed), &inventory(ROUTED), &observed);
    let plan = reconcile(&desired, &observed, ReconcileOptions::default());
    let part = only_services(
        &plan,
        &desired,
        &observed,
        &with_dependencies(&graph, &named, true),
    );
    expect![[r#"
        project shop: 6 containers on 3 hosts
        placements:
          api[1]                         h1         shop-api-1
          api[2]                         h2         shop-api-2
          api[3]                         h3         shop-api-3
          db[1]                          h1         shop-db-1
          migrate[1]                     h2         shop-migrate-1
          web[1]                         h3         shop-web-1
        operations:
          #1   h1       ensure routes [172.30.1.0/24 via 10.0.0.2, 172.30.2.0/24 via 10.0.0.3]
          #2   h2       ensure routes [172.30.0.0/24 via 10.0.0.1, 172.30.2.0/24 via 10.0.0.3]
          #3   h1       ensure image postgres:17
          #4   h1       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]  after #3
          #5   h2       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]
          #6   h3       write hosts files [v-aa371ae5efde7003.hosts (12 entries)]
          #7   h1       remove container shop-db-1 (config changed)
          #8   h1       create container shop-db-1 (config changed)  after #3 #4 #5 #6 #7
          #9   h2       remove container shop-migrate-1 (config changed)
          #10  h2       create container shop-migrate-1 (config changed)  after #4 #5 #6 #9
          #11  h1       start shop-db-1  after #1 #8
          #12  h1       wait for shop-db-1 healthy  after #11
          #13  h2       start shop-migrate-1  after #2 #10 #12
          #14  h2       wait for shop-migrate-1 to complete  after #13
    "#]]
    .assert_eq(&part.to_text());
    let no_deps = only_services(
        &plan,
        &desired,
        &observed,
        &with_dependencies(&graph, &named, false),
    );
    assert!(
        no_deps
            .operations
            .iter()
            // (hosts-file writes name every container of the project)
            .filter(|planned| !matches!(planned.operation, Operation::WriteHostsFiles { .. }))
            .all(|planned| !format!("{:?}", planned.operation).contains("shop-db-1")),
        "--no-deps leaves db alone: {}",
        no_deps.to_text()
    );
    assert!(
        no_deps
            .to_text()
            .contains("create container shop-migrate-1"),
        "{}",
        no_deps.to_text()
    );
}

#[test]
fn a_project_on_one_host_of_a_routed_inventory_installs_no_routes() {
    let (_, _, _, plan) = fresh(
        "name: solo\nservices:\n  app:\n    image: busybox\n",
        ROUTED,
    );
    assert!(
        !plan.to_text().contains("routes"),
        "nothing to route to: {}",
        plan.to_text()
    );
    // With a second host in the project, both get their routes.
    let (_, _, _, plan) = fresh(
        "name: duo\nservices:\n  app:\n    image: busybox\n    deploy: {replicas: 2}\n",
        ROUTED,
    );
    assert_eq!(
        plan.to_text().matches("ensure routes").count(),
        2,
        "{}",
        plan.to_text()
    );
}
