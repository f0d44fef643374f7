//! The scheduler's tests: filters, strategies, stickiness, colocation and the rejection text.

use super::*;
use crate::units::format_bytes;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const CPU: u64 = 1_000_000_000;

fn host(name: &str, labels: &[(&str, &str)]) -> HostSpec {
    HostSpec {
        name: name.to_string(),
        labels: labels
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
        capacity: None,
    }
}

fn host_with_capacity(name: &str, nano_cpus: u64, memory_bytes: u64) -> HostSpec {
    HostSpec {
        capacity: Some(Resources {
            nano_cpus,
            memory_bytes,
        }),
        ..host(name, &[])
    }
}

fn hosts(names: &[&str]) -> Vec<HostSpec> {
    names.iter().map(|name| host(name, &[])).collect()
}

fn service(name: &str, replicas: u32) -> ServiceDemand {
    ServiceDemand {
        name: name.to_string(),
        replicas,
        ..ServiceDemand::default()
    }
}

fn with_constraints(mut demand: ServiceDemand, constraints: &[&str]) -> ServiceDemand {
    demand.constraints = constraints
        .iter()
        .map(|text| Constraint::parse(text).expect("valid constraint"))
        .collect();
    demand
}

fn with_port(mut demand: ServiceDemand, port: u16) -> ServiceDemand {
    demand.published_ports.push(PublishedPort::tcp(port));
    demand
}

fn with_reservation(mut demand: ServiceDemand, nano_cpus: u64, memory_bytes: u64) -> ServiceDemand {
    demand.reservation = Resources {
        nano_cpus,
        memory_bytes,
    };
    demand
}

fn binpack(mut demand: ServiceDemand) -> ServiceDemand {
    demand.strategy = Some(Strategy::Binpack);
    demand
}

fn colocated(mut demand: ServiceDemand, target: &str) -> ServiceDemand {
    demand.colocate_with = Some(target.to_string());
    demand
}

fn placement(service: &str, replica: u32, host: &str) -> Placement {
    Placement {
        service: service.to_string(),
        replica,
        host: host.to_string(),
    }
}

fn run_with(
    services: &[ServiceDemand],
    hosts: &[HostSpec],
    existing: &[Placement],
) -> Result<Vec<Placement>, ScheduleError> {
    let input = ScheduleInput {
        services,
        hosts,
        default_strategy: Strategy::Spread,
        existing,
    };
    schedule(&input, &mut DefaultPolicy)
}

fn run(services: &[ServiceDemand], hosts: &[HostSpec]) -> Vec<Placement> {
    run_with(services, hosts, &[]).expect("schedules")
}

/// `service -> host` for each replica, as `web-1@h1` strings.
fn summary(placements: &[Placement]) -> Vec<String> {
    placements
        .iter()
        .map(|placement| {
            format!(
                "{}-{}@{}",
                placement.service, placement.replica, placement.host
            )
        })
        .collect()
}

/// How many replicas of `service` each host got, by host name.
fn counts(placements: &[Placement], service: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for placement in placements
        .iter()
        .filter(|placement| placement.service == service)
    {
        *counts.entry(placement.host.clone()).or_insert(0) += 1;
    }
    counts
}

fn mixed_project() -> (Vec<ServiceDemand>, Vec<HostSpec>) {
    let services = vec![
        with_port(
            with_constraints(service("web", 4), &["node.labels.zone==a"]),
            80,
        ),
        with_reservation(binpack(service("worker", 5)), CPU, GIB),
        with_constraints(service("cache", 3), &["node.labels.disk!=hdd"]),
        colocated(service("sidecar", 4), "web"),
        service("db", 1),
    ];
    let mut host_list = vec![
        host("h1", &[("zone", "a"), ("disk", "ssd")]),
        host("h2", &[("zone", "a"), ("disk", "hdd")]),
        host("h3", &[("zone", "b")]),
        host("h4", &[("zone", "a")]),
        host("h5", &[("zone", "a"), ("disk", "ssd")]),
    ];
    host_list[0].capacity = Some(Resources {
        nano_cpus: 4 * CPU,
        memory_bytes: 8 * GIB,
    });
    host_list[2].capacity = Some(Resources {
        nano_cpus: 2 * CPU,
        memory_bytes: 2 * GIB,
    });
    (services, host_list)
}

#[test]
fn same_input_gives_same_output() {
    let (services, host_list) = mixed_project();
    let first = run(&services, &host_list);
    let second = run(&services, &host_list);
    assert_eq!(first, second);
    assert_eq!(first.len(), 4 + 5 + 3 + 4 + 1);
}

#[test]
fn output_does_not_depend_on_input_order() {
    let (services, host_list) = mixed_project();
    let expected = run(&services, &host_list);
    let mut reversed_services = services.clone();
    reversed_services.reverse();
    let mut reversed_hosts = host_list.clone();
    reversed_hosts.reverse();
    assert_eq!(run(&reversed_services, &reversed_hosts), expected);
    let mut rotated_hosts = host_list.clone();
    rotated_hosts.rotate_left(2);
    assert_eq!(run(&services, &rotated_hosts), expected);
}

#[test]
fn output_is_sorted_by_service_then_replica() {
    let services = vec![service("b", 12), service("a", 11)];
    let placements = run(&services, &hosts(&["h1", "h2"]));
    let mut sorted = placements.clone();
    sorted
        .sort_by(|left, right| (&left.service, left.replica).cmp(&(&right.service, right.replica)));
    assert_eq!(placements, sorted);
    assert_eq!(placements[0].replica, 1);
    assert_eq!(placements[9].replica, 10);
    assert_eq!(placements[10].replica, 11);
}

#[test]
fn spread_evens_out_each_service() {
    let services = vec![service("api", 3), service("web", 4)];
    let placements = run(&services, &hosts(&["h1", "h2", "h3"]));
    for name in ["api", "web"] {
        let per_host = counts(&placements, name);
        let most = per_host.values().max().copied().unwrap_or(0);
        let least = if per_host.len() < 3 {
            0
        } else {
            per_host.values().min().copied().unwrap_or(0)
        };
        assert!(most - least <= 1, "{name}: {per_host:?}");
    }
    assert_eq!(counts(&placements, "api").len(), 3);
    // api goes first (by name) over h1, h2, h3; web's fourth replica then
    // goes where the project has the fewest containers, h1 being first.
    assert_eq!(
        summary(&placements),
        [
            "api-1@h1", "api-2@h2", "api-3@h3", "web-1@h1", "web-2@h2", "web-3@h3", "web-4@h1"
        ]
    );
}

#[test]
fn spread_breaks_ties_by_project_containers() {
    // "a" fills h1 and h2; "b" then starts on h3, the least loaded host.
    let services = vec![service("a", 2), service("b", 2)];
    let placements = run(&services, &hosts(&["h1", "h2", "h3"]));
    assert_eq!(
        summary(&placements),
        ["a-1@h1", "a-2@h2", "b-1@h3", "b-2@h1"]
    );
}

#[test]
fn label_equal_constraint_keeps_to_matching_hosts() {
    let services = vec![with_constraints(
        service("web", 4),
        &["node.labels.zone==a"],
    )];
    let host_list = vec![
        host("h1", &[("zone", "a")]),
        host("h2", &[("zone", "b")]),
        host("h3", &[]),
        host("h4", &[("zone", "A")]),
    ];
    let per_host = counts(&run(&services, &host_list), "web");
    assert_eq!(
        per_host,
        BTreeMap::from([("h1".to_string(), 2), ("h4".to_string(), 2)])
    );
}

#[test]
fn label_not_equal_constraint_passes_hosts_without_the_label() {
    let services = vec![with_constraints(
        service("web", 4),
        &["node.labels.disk != hdd"],
    )];
    let host_list = vec![
        host("h1", &[("disk", "hdd")]),
        host("h2", &[("disk", "ssd")]),
        host("h3", &[]),
    ];
    let per_host = counts(&run(&services, &host_list), "web");
    assert_eq!(
        per_host,
        BTreeMap::from([("h2".to_string(), 2), ("h3".to_string(), 2)])
    );
}

#[test]
fn hostname_constraints() {
    let services = vec![
        with_constraints(service("pinned", 2), &["node.hostname==h2"]),
        with_constraints(service("avoid", 2), &["node.hostname!=h1"]),
    ];
    let placements = run(&services, &hosts(&["h1", "h2", "h3"]));
    assert_eq!(
        summary(&placements),
        ["avoid-1@h2", "avoid-2@h3", "pinned-1@h2", "pinned-2@h2"]
    );
}

#[test]
fn missing_label_fails_equal_and_reports_it() {
    let services = vec![with_constraints(
        service("web", 1),
        &["node.labels.zone==a"],
    )];
    let error = run_with(&services, &[host("h1", &[])], &[]).expect_err("no zone label");
    assert_eq!(
        error.to_string(),
        r#"no host fits service "web" replica 1: h1: constraint node.labels.zone==a not satisfied (zone not set)"#
    );
}

#[test]
fn replicas_publishing_the_same_port_go_to_different_hosts() {
    let services = vec![with_port(service("web", 2), 80)];
    let placements = run(&services, &hosts(&["h1", "h2"]));
    assert_eq!(summary(&placements), ["web-1@h1", "web-2@h2"]);
}

#[test]
fn more_replicas_than_hosts_for_a_fixed_port_fails_with_reasons() {
    let services = vec![with_port(service("web", 4), 80)];
    let error = run_with(&services, &hosts(&["h1", "h2", "h3"]), &[]).expect_err("no room");
    assert_eq!(
        error.to_string(),
        r#"no host fits service "web" replica 4: h1: published port 80/tcp already used by web-1; h2: published port 80/tcp already used by web-2; h3: published port 80/tcp already used by web-3"#
    );
    let ScheduleError::NoHostFits {
        replica,
        rejections,
        ..
    } = error
    else {
        panic!("expected NoHostFits");
    };
    assert_eq!(replica, 4);
    assert_eq!(rejections.len(), 3);
}

#[test]
fn ports_collide_across_services_but_not_across_protocols_or_addresses() {
    let pinned = |name: &str, host_name: &str, host_ip: Option<&str>, port: u16, protocol: &str| {
        let mut demand =
            with_constraints(service(name, 1), &[&format!("node.hostname=={host_name}")]);
        demand.published_ports.push(PublishedPort {
            host_ip: host_ip.map(str::to_string),
            port,
            protocol: protocol.to_string(),
        });
        demand
    };
    let services = vec![
        pinned("dns", "h1", None, 53, "udp"),
        pinned("web", "h1", Some("0.0.0.0"), 53, "tcp"),
        pinned("local-a", "h2", Some("127.0.0.1"), 8080, "TCP"),
        pinned("local-b", "h2", Some("127.0.0.2"), 8080, ""),
        with_port(service("z-everywhere", 1), 8080),
    ];
    let placements = run(&services, &hosts(&["h1", "h2"]));
    // udp and tcp share port 53 on h1, two addresses share 8080 on h2,
    // and the every-address 8080 collides with both on h2, so goes to h1.
    assert_eq!(
        summary(&placements),
        [
            "dns-1@h1",
            "local-a-1@h2",
            "local-b-1@h2",
            "web-1@h1",
            "z-everywhere-1@h1"
        ]
    );
    let mut services = services;
    services.push(pinned("z-local", "h2", Some("127.0.0.2"), 8080, "tcp"));
    let error = run_with(&services, &hosts(&["h1", "h2"]), &[]).expect_err("taken");
    assert_eq!(
        error.to_string(),
        r#"no host fits service "z-local" replica 1: h1: constraint node.hostname==h2 not satisfied (hostname h1); h2: published port 127.0.0.2:8080/tcp already used by local-b-1"#
    );
}

#[test]
fn a_service_publishing_a_port_twice_is_refused() {
    let services = vec![with_port(with_port(service("web", 1), 80), 80)];
    let error = run_with(&services, &hosts(&["h1"]), &[]).expect_err("duplicate port");
    assert_eq!(
        error.to_string(),
        r#"service "web" publishes port 80/tcp more than once"#
    );
}

#[test]
fn binpack_fills_the_fullest_host_first() {
    let services = vec![with_reservation(binpack(service("worker", 5)), CPU, GIB)];
    let host_list = vec![
        host_with_capacity("h1", 2 * CPU, 8 * GIB),
        host_with_capacity("h2", 4 * CPU, 8 * GIB),
    ];
    let placements = run(&services, &host_list);
    // Replica 1: tie (both empty), h1 by name. Replica 2: h1 is fuller
    // (1/2 cpu) and fits. Replica 3: h1 is full, h2. Then h2 fills.
    assert_eq!(
        summary(&placements),
        [
            "worker-1@h1",
            "worker-2@h1",
            "worker-3@h2",
            "worker-4@h2",
            "worker-5@h2"
        ]
    );
}

#[test]
fn binpack_prefers_the_host_other_services_filled() {
    let services = vec![
        with_reservation(service("a-db", 1), 0, 6 * GIB),
        with_reservation(binpack(service("b-worker", 2)), 0, GIB),
    ];
    let host_list = vec![
        host_with_capacity("h1", 0, 8 * GIB),
        host_with_capacity("h2", 0, 8 * GIB),
    ];
    let existing = [placement("a-db", 1, "h2")];
    let placements = run_with(&services, &host_list, &existing).expect("schedules");
    assert_eq!(
        summary(&placements),
        ["a-db-1@h2", "b-worker-1@h2", "b-worker-2@h2"]
    );
}

#[test]
fn binpack_without_capacity_stacks_by_container_count() {
    let services = vec![service("a", 1), binpack(service("b", 3))];
    let placements = run(&services, &hosts(&["h1", "h2"]));
    assert_eq!(
        summary(&placements),
        ["a-1@h1", "b-1@h1", "b-2@h1", "b-3@h1"]
    );
}

#[test]
fn binpack_refuses_when_nothing_has_room() {
    let services = vec![with_reservation(
        binpack(service("worker", 3)),
        CPU,
        3 * GIB,
    )];
    let host_list = vec![
        host_with_capacity("h1", 8 * CPU, 4 * GIB),
        host_with_capacity("h2", 3 * CPU / 2, 8 * GIB),
    ];
    let error = run_with(&services, &host_list, &[]).expect_err("no room");
    assert_eq!(
        error.to_string(),
        r#"no host fits service "worker" replica 3: h1: not enough memory (needs 3GiB, 1GiB free); h2: not enough cpu (needs 1 cpu, 0.5 cpus free)"#
    );
}

#[test]
fn capacity_is_checked_with_spread_too() {
    let services = vec![with_reservation(service("web", 4), 0, 512 * MIB)];
    let host_list = vec![
        host_with_capacity("h1", 0, GIB),
        host_with_capacity("h2", 0, 512 * MIB),
    ];
    let error = run_with(&services, &host_list, &[]).expect_err("no room");
    assert_eq!(
        error.to_string(),
        r#"no host fits service "web" replica 4: h1: not enough memory (needs 512MiB, 0B free); h2: not enough memory (needs 512MiB, 0B free)"#
    );
    let services = vec![with_reservation(service("web", 3), 0, 512 * MIB)];
    assert_eq!(
        counts(&run(&services, &host_list), "web").get("h1"),
        Some(&2)
    );
}

#[test]
fn error_lists_each_hosts_reason() {
    let services = vec![
        with_reservation(service("db", 1), 0, 512 * MIB),
        with_reservation(
            with_port(
                with_constraints(service("web", 2), &["node.labels.zone==a"]),
                80,
            ),
            0,
            512 * MIB,
        ),
    ];
    let mut host_list = vec![
        host("h1", &[("zone", "a")]),
        host("h2", &[("zone", "b")]),
        host("h3", &[("zone", "a")]),
    ];
    host_list[2].capacity = Some(Resources {
        nano_cpus: 0,
        memory_bytes: 768 * MIB,
    });
    let existing = [placement("db", 1, "h3")];
    let error = run_with(&services, &host_list, &existing).expect_err("no room");
    assert_eq!(
        error.to_string(),
        r#"no host fits service "web" replica 2: h1: published port 80/tcp already used by web-1; h2: constraint node.labels.zone==a not satisfied (zone=b); h3: not enough memory (needs 512MiB, 256MiB free)"#
    );
}

#[test]
fn long_rejection_lists_are_cut() {
    let host_list: Vec<HostSpec> = (0..25)
        .map(|index| host(&format!("h{index:02}"), &[]))
        .collect();
    let services = vec![with_constraints(
        service("web", 1),
        &["node.hostname==elsewhere"],
    )];
    let message = run_with(&services, &host_list, &[])
        .expect_err("nowhere")
        .to_string();
    assert!(message.contains("h19: constraint"), "{message}");
    assert!(!message.contains("h20:"), "{message}");
    assert!(message.ends_with("; and 5 more hosts"), "{message}");
}

#[test]
fn colocated_services_follow_their_target() {
    let services = vec![
        colocated(service("a-sidecar", 5), "web"),
        service("web", 3),
        colocated(service("b-logs", 1), "a-sidecar"),
    ];
    let placements = run(&services, &hosts(&["h1", "h2", "h3"]));
    let host_of = |name: &str, replica: u32| {
        placements
            .iter()
            .find(|placement| placement.service == name && placement.replica == replica)
            .map(|placement| placement.host.clone())
            .expect("placed")
    };
    for replica in 1..=5 {
        assert_eq!(
            host_of("a-sidecar", replica),
            host_of("web", (replica - 1) % 3 + 1)
        );
    }
    assert_eq!(host_of("b-logs", 1), host_of("a-sidecar", 1));
}

#[test]
fn colocated_replica_fails_when_the_target_host_rejects_it() {
    let services = vec![
        with_port(service("web", 1), 80),
        with_port(colocated(service("proxy", 1), "web"), 80),
    ];
    let error = run_with(&services, &hosts(&["h1", "h2"]), &[]).expect_err("port taken");
    assert_eq!(
        error.to_string(),
        r#"no host fits service "proxy" replica 1: it must run beside "web" replica 1 on h1, which rejects it: published port 80/tcp already used by web-1"#
    );
}

#[test]
fn colocation_cycle_and_unknown_target_are_errors() {
    let services = vec![
        colocated(service("c", 1), "a"),
        colocated(service("a", 1), "b"),
        colocated(service("b", 1), "c"),
        service("d", 1),
    ];
    let error = run_with(&services, &hosts(&["h1"]), &[]).expect_err("cycle");
    assert_eq!(
        error.to_string(),
        "services colocate with each other in a cycle: a -> b -> c -> a"
    );

    let services = vec![colocated(service("a", 1), "a")];
    let error = run_with(&services, &hosts(&["h1"]), &[]).expect_err("self cycle");
    assert_eq!(
        error.to_string(),
        "services colocate with each other in a cycle: a -> a"
    );

    let services = vec![colocated(service("a", 1), "ghost")];
    let error = run_with(&services, &hosts(&["h1"]), &[]).expect_err("unknown");
    assert_eq!(
        error.to_string(),
        r#"service "a" must share a host with "ghost", which is not a service of the project"#
    );

    let services = vec![service("web", 0), colocated(service("proxy", 1), "web")];
    let error = run_with(&services, &hosts(&["h1"]), &[]).expect_err("target scaled to zero");
    assert_eq!(
        error.to_string(),
        r#"service "proxy" must share a host with "web", which has no replicas"#
    );
}

#[test]
fn rescheduling_the_output_moves_nothing() {
    let (services, host_list) = mixed_project();
    let first = run(&services, &host_list);
    let second = run_with(&services, &host_list, &first).expect("schedules");
    assert_eq!(first, second);
    let mut shuffled = first.clone();
    shuffled.reverse();
    assert_eq!(
        run_with(&services, &host_list, &shuffled).expect("schedules"),
        first
    );
}

#[test]
fn existing_placements_are_kept_even_where_nap_would_not_choose() {
    let services = vec![service("web", 3)];
    let existing = [
        placement("web", 1, "h3"),
        placement("web", 2, "h3"),
        placement("web", 3, "h3"),
    ];
    let placements =
        run_with(&services, &hosts(&["h1", "h2", "h3"]), &existing).expect("schedules");
    assert_eq!(summary(&placements), ["web-1@h3", "web-2@h3", "web-3@h3"]);
}

#[test]
fn existing_placement_is_dropped_when_its_constraint_no_longer_holds() {
    let services = vec![with_constraints(
        service("web", 2),
        &["node.labels.zone==a"],
    )];
    let host_list = vec![
        host("h1", &[("zone", "a")]),
        host("h2", &[("zone", "b")]),
        host("h3", &[("zone", "a")]),
    ];
    let existing = [placement("web", 1, "h3"), placement("web", 2, "h2")];
    let placements = run_with(&services, &host_list, &existing).expect("schedules");
    assert_eq!(summary(&placements), ["web-1@h3", "web-2@h1"]);
}

#[test]
fn existing_placement_is_dropped_when_its_host_vanished() {
    let services = vec![service("web", 2)];
    let existing = [placement("web", 1, "gone"), placement("web", 2, "h2")];
    let placements = run_with(&services, &hosts(&["h1", "h2"]), &existing).expect("schedules");
    assert_eq!(summary(&placements), ["web-1@h1", "web-2@h2"]);
}

#[test]
fn existing_placements_that_collide_keep_only_the_first() {
    let services = vec![with_port(service("web", 2), 80)];
    let existing = [placement("web", 2, "h1"), placement("web", 1, "h1")];
    let placements = run_with(&services, &hosts(&["h1", "h2"]), &existing).expect("schedules");
    assert_eq!(summary(&placements), ["web-1@h1", "web-2@h2"]);
}

#[test]
fn existing_placements_of_removed_services_and_bad_replicas_are_dropped() {
    let services = vec![service("web", 1)];
    let existing = [
        placement("old", 1, "h1"),
        placement("web", 0, "h2"),
        placement("web", 1, "h2"),
        placement("web", 1, "h1"),
    ];
    let placements = run_with(&services, &hosts(&["h1", "h2"]), &existing).expect("schedules");
    // Observed twice: the first host by name keeps it.
    assert_eq!(summary(&placements), ["web-1@h1"]);
}

#[test]
fn existing_colocated_placement_moves_with_its_target() {
    let services = vec![
        with_constraints(service("web", 1), &["node.hostname==h2"]),
        colocated(service("proxy", 1), "web"),
    ];
    let existing = [placement("web", 1, "h1"), placement("proxy", 1, "h1")];
    let placements = run_with(&services, &hosts(&["h1", "h2"]), &existing).expect("schedules");
    assert_eq!(summary(&placements), ["proxy-1@h2", "web-1@h2"]);
}

#[test]
fn scaling_down_and_up_keeps_the_lower_replicas() {
    let host_list = hosts(&["h1", "h2", "h3", "h4"]);
    let five = run(&[service("web", 5)], &host_list);
    let two = run_with(&[service("web", 2)], &host_list, &five).expect("schedules");
    assert_eq!(two, five[..2].to_vec());
    let seven = run_with(&[service("web", 7)], &host_list, &two).expect("schedules");
    assert_eq!(seven[..2], two[..]);
    assert_eq!(seven.len(), 7);
    let per_host = counts(&seven, "web");
    assert!(
        per_host.values().all(|&count| count == 1 || count == 2),
        "{per_host:?}"
    );
    let again = run_with(&[service("web", 7)], &host_list, &seven).expect("schedules");
    assert_eq!(again, seven);
}

#[test]
fn kept_placements_are_accounted_before_new_ones() {
    // "b" runs on h1 with port 80; a new "a" (placed first by name) must
    // not take h1's port 80 and evict it.
    let services = vec![
        with_port(service("a", 1), 80),
        with_port(service("b", 1), 80),
    ];
    let existing = [placement("b", 1, "h1")];
    let placements = run_with(&services, &hosts(&["h1", "h2"]), &existing).expect("schedules");
    assert_eq!(summary(&placements), ["a-1@h2", "b-1@h1"]);
}

/// Chooses the last candidate and records what it was offered.
struct LastCandidate {
    offered: Vec<Vec<String>>,
    /// `host:service_replicas/containers` of each candidate, per call.
    counts: Vec<Vec<String>>,
}

impl PlacementPolicy for LastCandidate {
    fn name(&self) -> &str {
        "last"
    }

    fn choose(
        &mut self,
        _service: &ServiceDemand,
        _replica: u32,
        candidates: &[Candidate<'_>],
    ) -> Result<Option<String>, PolicyError> {
        self.offered.push(
            candidates
                .iter()
                .map(|candidate| candidate.host.name.clone())
                .collect(),
        );
        self.counts.push(
            candidates
                .iter()
                .map(|candidate| {
                    format!(
                        "{}:{}/{}",
                        candidate.host.name, candidate.service_replicas, candidate.containers
                    )
                })
                .collect(),
        );
        Ok(candidates
            .last()
            .map(|candidate| candidate.host.name.clone()))
    }
}

/// Returns a fixed answer.
struct FixedAnswer(Result<Option<String>, PolicyError>);

impl PlacementPolicy for FixedAnswer {
    fn name(&self) -> &str {
        "fixed"
    }

    fn choose(
        &mut self,
        _service: &ServiceDemand,
        _replica: u32,
        _candidates: &[Candidate<'_>],
    ) -> Result<Option<String>, PolicyError> {
        self.0.clone()
    }
}

fn run_with_policy(
    services: &[ServiceDemand],
    hosts: &[HostSpec],
    policy: &mut dyn PlacementPolicy,
) -> Result<Vec<Placement>, ScheduleError> {
    let input = ScheduleInput {
        services,
        hosts,
        default_strategy: Strategy::Spread,
        existing: &[],
    };
    schedule(&input, policy)
}

#[test]
fn policy_can_choose_among_the_candidates() {
    let services = vec![
        with_port(
            with_constraints(service("web", 2), &["node.labels.zone!=b"]),
            80,
        ),
        colocated(service("proxy", 1), "web"),
    ];
    let host_list = vec![
        host("h1", &[]),
        host("h2", &[("zone", "b")]),
        host("h3", &[]),
        host("h4", &[]),
    ];
    let mut policy = LastCandidate {
        offered: Vec::new(),
        counts: Vec::new(),
    };
    let placements = run_with_policy(&services, &host_list, &mut policy).expect("schedules");
    assert_eq!(summary(&placements), ["proxy-1@h4", "web-1@h4", "web-2@h3"]);
    // Best first, h2 filtered out by its zone, h4 by port 80 once taken;
    // not asked for the colocated proxy.
    assert_eq!(policy.offered, [vec!["h1", "h3", "h4"], vec!["h1", "h3"]]);
}

#[test]
fn policy_sees_replica_and_container_counts_including_kept_ones() {
    // web-1 is kept on h2 and db-1 on h1; the policy puts web-2 and web-3 on
    // the last candidate, h2.
    let services = vec![service("db", 1), service("web", 3)];
    let existing = [placement("web", 1, "h2"), placement("db", 1, "h1")];
    let mut policy = LastCandidate {
        offered: Vec::new(),
        counts: Vec::new(),
    };
    let input = ScheduleInput {
        services: &services,
        hosts: &hosts(&["h1", "h2"]),
        default_strategy: Strategy::Spread,
        existing: &existing,
    };
    let placements = schedule(&input, &mut policy).expect("schedules");
    assert_eq!(
        summary(&placements),
        ["db-1@h1", "web-1@h2", "web-2@h2", "web-3@h2"]
    );
    assert_eq!(
        policy.counts,
        [vec!["h1:0/1", "h2:1/1"], vec!["h1:0/1", "h2:2/2"]]
    );
}

#[test]
fn policy_keeping_nap_choice_changes_nothing() {
    let (services, host_list) = mixed_project();
    let mut policy = FixedAnswer(Ok(None));
    assert_eq!(
        run_with_policy(&services, &host_list, &mut policy).expect("schedules"),
        run(&services, &host_list)
    );
}

#[test]
fn policy_choosing_outside_the_candidates_is_an_error() {
    let services = vec![with_constraints(service("web", 1), &["node.hostname!=h2"])];
    let mut policy = FixedAnswer(Ok(Some("h2".to_string())));
    let error = run_with_policy(&services, &hosts(&["h1", "h2", "h3"]), &mut policy)
        .expect_err("h2 is filtered out");
    assert_eq!(
        error.to_string(),
        r#"placement policy "fixed" chose host "h2" for service "web" replica 1, which is not among the candidates (h1, h3)"#
    );
}

#[test]
fn policy_error_names_the_policy() {
    let services = vec![service("web", 1)];
    let mut policy = FixedAnswer(Err(PolicyError::new("plugin crashed")));
    let error = run_with_policy(&services, &hosts(&["h1"]), &mut policy).expect_err("fails");
    assert_eq!(
        error.to_string(),
        r#"placement policy "fixed" failed for service "web" replica 1: plugin crashed"#
    );
}

#[test]
fn no_hosts_duplicate_hosts_and_duplicate_services_are_errors() {
    assert_eq!(
        run_with(&[service("web", 1)], &[], &[]),
        Err(ScheduleError::NoHosts)
    );
    assert_eq!(run_with(&[service("web", 0)], &[], &[]), Ok(Vec::new()));
    assert_eq!(run_with(&[], &[], &[]), Ok(Vec::new()));
    assert_eq!(
        run_with(&[service("web", 1)], &hosts(&["h1", "h1"]), &[]),
        Err(ScheduleError::DuplicateHost {
            host: "h1".to_string()
        })
    );
    assert_eq!(
        run_with(
            &[service("web", 1), service("web", 2)],
            &hosts(&["h1"]),
            &[]
        ),
        Err(ScheduleError::DuplicateService {
            service: "web".to_string()
        })
    );
}

#[test]
fn constraint_parse_accepts() {
    let table = [
        ("node.labels.zone==a", "node.labels.zone==a"),
        ("node.labels.zone != a", "node.labels.zone!=a"),
        ("  node.labels.zone   ==   a  ", "node.labels.zone==a"),
        (
            "node.labels.com.example.tier==front-end_1",
            "node.labels.com.example.tier==front-end_1",
        ),
        ("node.hostname==h1", "node.hostname==h1"),
        ("node.hostname!=h1", "node.hostname!=h1"),
        ("Node.Hostname == H1", "node.hostname==H1"),
        ("node.labels.Zone==a b", "node.labels.Zone==a b"),
    ];
    for (text, canonical) in table {
        let constraint = Constraint::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        assert_eq!(constraint.to_string(), canonical, "{text}");
        assert_eq!(
            Constraint::parse(canonical),
            Ok(constraint.clone()),
            "{canonical}"
        );
        assert_eq!(canonical.parse::<Constraint>(), Ok(constraint));
    }
    assert_eq!(
        Constraint::parse("node.labels.zone!=a"),
        Ok(Constraint::LabelNe {
            key: "zone".to_string(),
            value: "a".to_string()
        })
    );
    assert_eq!(
        Constraint::parse("node.hostname==h1"),
        Ok(Constraint::HostnameEq("h1".to_string()))
    );
}

#[test]
fn constraint_parse_rejects() {
    let table = [
        (
            "node.role==manager",
            r#"unsupported constraint "node.role==manager": nap supports node.labels.<key> and node.hostname"#,
        ),
        (
            "node.id!=abc",
            r#"unsupported constraint "node.id!=abc": nap supports node.labels.<key> and node.hostname"#,
        ),
        (
            "engine.labels.os==linux",
            r#"unsupported constraint "engine.labels.os==linux": nap supports node.labels.<key> and node.hostname"#,
        ),
        (
            "node.platform.os==linux",
            r#"unsupported constraint "node.platform.os==linux": nap supports node.labels.<key> and node.hostname"#,
        ),
        (
            "node.labels.zone",
            r#"invalid constraint "node.labels.zone": expected <attribute>==<value> or <attribute>!=<value>"#,
        ),
        (
            "node.labels.zone=a",
            r#"invalid constraint "node.labels.zone=a": expected <attribute>==<value> or <attribute>!=<value>"#,
        ),
        (
            "",
            r#"invalid constraint "": expected <attribute>==<value> or <attribute>!=<value>"#,
        ),
        (
            "==a",
            r#"invalid constraint "==a": nothing before the operator"#,
        ),
        (
            "node.labels.==a",
            r#"invalid constraint "node.labels.==a": the label key after node.labels. is empty"#,
        ),
        (
            "node.labels==a",
            r#"invalid constraint "node.labels==a": the label key after node.labels. is empty"#,
        ),
        (
            "node.labels.zo ne==a",
            r#"invalid constraint "node.labels.zo ne==a": label key "zo ne" may only contain letters, digits, '.', '-' and '_'"#,
        ),
        (
            "node.labels.zone==",
            r#"invalid constraint "node.labels.zone==": the value after the operator is empty"#,
        ),
        (
            "node.labels.zone===a",
            r#"invalid constraint "node.labels.zone===a": value "=a" may not contain '=', '!' or control characters"#,
        ),
        (
            "node.labels.zone!==a",
            r#"invalid constraint "node.labels.zone!==a": value "=a" may not contain '=', '!' or control characters"#,
        ),
        (
            "node.hostname==a==b",
            r#"invalid constraint "node.hostname==a==b": value "a==b" may not contain '=', '!' or control characters"#,
        ),
    ];
    for (text, message) in table {
        let error = Constraint::parse(text).expect_err(text);
        assert_eq!(error.to_string(), message, "{text}");
    }
}

#[test]
fn constraint_values_compare_case_insensitively() {
    let host_spec = host("Edge-1", &[("zone", "EU-West")]);
    let holds = |text: &str| {
        Constraint::parse(text)
            .expect("valid")
            .is_satisfied_by(&host_spec)
    };
    assert!(holds("node.labels.zone==eu-west"));
    assert!(!holds("node.labels.zone!=eu-west"));
    assert!(holds("node.hostname==edge-1"));
    assert!(!holds("node.labels.Zone==eu-west"));
    assert!(holds("node.labels.Zone!=eu-west"));
}

#[test]
fn serde_shapes() {
    let demand: ServiceDemand = serde_json::from_str(
        r#"{"name":"web","replicas":2,"constraints":["node.labels.zone == a"],
            "published_ports":[{"port":80}],"strategy":"binpack"}"#,
    )
    .expect("parses");
    assert_eq!(demand.constraints[0].to_string(), "node.labels.zone==a");
    assert_eq!(demand.published_ports[0], PublishedPort::tcp(80));
    assert_eq!(demand.strategy, Some(Strategy::Binpack));
    let json = serde_json::to_string(&demand.constraints).expect("serializes");
    assert_eq!(json, r#"["node.labels.zone==a"]"#);
    assert_eq!(
        serde_json::to_string(&Strategy::default()).expect("serializes"),
        r#""spread""#
    );
    let bad: Result<Constraint, _> = serde_json::from_str(r#""node.role==manager""#);
    assert!(bad.is_err());
}

#[test]
fn published_port_display() {
    let port = |host_ip: Option<&str>, port: u16, protocol: &str| PublishedPort {
        host_ip: host_ip.map(str::to_string),
        port,
        protocol: protocol.to_string(),
    };
    assert_eq!(port(None, 80, "tcp").to_string(), "80/tcp");
    assert_eq!(port(Some("0.0.0.0"), 80, "").to_string(), "80/tcp");
    assert_eq!(
        port(Some("127.0.0.1"), 53, "UDP").to_string(),
        "127.0.0.1:53/udp"
    );
    assert_eq!(port(Some("::1"), 443, "tcp").to_string(), "[::1]:443/tcp");
}

#[test]
fn amounts_are_formatted_for_people() {
    assert_eq!(format_bytes(0), "0B");
    assert_eq!(format_bytes(512 * MIB), "512MiB");
    assert_eq!(format_bytes(3 * GIB / 2), "1.5GiB");
    assert_eq!(format_bytes(1536), "1.5KiB");
    assert_eq!(format_bytes(u64::MAX), "16777215.99TiB");
    assert_eq!(format_cpus(CPU), "1 cpu");
    assert_eq!(format_cpus(2 * CPU), "2 cpus");
    assert_eq!(format_cpus(CPU / 4), "0.25 cpus");
    assert_eq!(format_cpus(0), "0 cpus");
}

#[test]
fn huge_numbers_do_not_panic() {
    let services = vec![with_reservation(
        binpack(service("web", 3)),
        u64::MAX,
        u64::MAX,
    )];
    let host_list = vec![
        host("unknown", &[]),
        host_with_capacity("full", u64::MAX, u64::MAX),
    ];
    let placements = run(&services, &host_list);
    assert_eq!(placements.len(), 3);
}

/// A small deterministic pseudo-random project: 40 hosts, 60 services.
fn generated_project(seed: u64) -> (Vec<ServiceDemand>, Vec<HostSpec>) {
    let mut state = seed;
    let mut next = move |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    let host_list: Vec<HostSpec> = (0..40)
        .map(|index| {
            let mut spec = host(
                &format!("h{index:02}"),
                &[
                    ("zone", ["a", "b", "c"][next(3) as usize]),
                    ("disk", ["ssd", "hdd"][next(2) as usize]),
                ],
            );
            if next(2) == 0 {
                spec.capacity = Some(Resources {
                    nano_cpus: (1 + next(8)) * CPU,
                    memory_bytes: (1 + next(16)) * GIB,
                });
            }
            spec
        })
        .collect();
    let mut services = Vec::new();
    for index in 0..60 {
        let mut demand = service(&format!("s{index:02}"), 1 + next(11) as u32);
        match next(4) {
            0 => demand = with_constraints(demand, &["node.labels.zone==b"]),
            1 => demand = with_constraints(demand, &["node.labels.disk!=hdd"]),
            _ => {}
        }
        if next(5) == 0 {
            demand = with_port(demand, 8000 + next(40) as u16);
        }
        if next(3) == 0 {
            demand = with_reservation(demand, next(4) * CPU / 4, next(4) * 256 * MIB);
        }
        if next(4) == 0 {
            demand.strategy = Some(Strategy::Binpack);
        }
        if index > 0 && next(8) == 0 {
            demand.colocate_with = Some(format!("s{:02}", next(index)));
            demand.published_ports.clear();
            demand.reservation = Resources::default();
            demand.constraints.clear();
        }
        services.push(demand);
    }
    (services, host_list)
}

#[test]
fn generated_projects_respect_every_filter() {
    let mut scheduled = 0;
    for seed in 0..30 {
        let (services, host_list) = generated_project(seed);
        let Ok(placements) = run_with(&services, &host_list, &[]) else {
            continue;
        };
        scheduled += 1;
        let host_of: BTreeMap<(&str, u32), &str> = placements
            .iter()
            .map(|placement| {
                (
                    (placement.service.as_str(), placement.replica),
                    placement.host.as_str(),
                )
            })
            .collect();
        let mut ports_per_host: BTreeMap<(&str, u16), u32> = BTreeMap::new();
        let mut reserved_per_host: BTreeMap<&str, Resources> = BTreeMap::new();
        for demand in &services {
            for replica in 1..=demand.replicas {
                let host_name = host_of[&(demand.name.as_str(), replica)];
                let spec = host_list
                    .iter()
                    .find(|spec| spec.name == host_name)
                    .expect("known host");
                assert!(
                    demand
                        .constraints
                        .iter()
                        .all(|constraint| constraint.is_satisfied_by(spec))
                );
                for port in &demand.published_ports {
                    *ports_per_host.entry((host_name, port.port)).or_insert(0) += 1;
                }
                let reserved = reserved_per_host.entry(host_name).or_default();
                *reserved = reserved.saturating_add(demand.reservation);
                if let Some(target) = &demand.colocate_with {
                    let target_replicas = services
                        .iter()
                        .find(|other| &other.name == target)
                        .map_or(0, |other| other.replicas);
                    let target_host =
                        host_of[&(target.as_str(), (replica - 1) % target_replicas + 1)];
                    assert_eq!(host_name, target_host);
                }
            }
        }
        assert!(
            ports_per_host.values().all(|&count| count == 1),
            "seed {seed}"
        );
        for spec in &host_list {
            if let (Some(capacity), Some(reserved)) =
                (spec.capacity, reserved_per_host.get(spec.name.as_str()))
            {
                assert!(
                    reserved.nano_cpus <= capacity.nano_cpus,
                    "seed {seed} {}",
                    spec.name
                );
                assert!(
                    reserved.memory_bytes <= capacity.memory_bytes,
                    "seed {seed} {}",
                    spec.name
                );
            }
        }
        assert_eq!(
            run_with(&services, &host_list, &placements),
            Ok(placements.clone())
        );
        let mut reversed_services = services.clone();
        reversed_services.reverse();
        let mut reversed_hosts = host_list.clone();
        reversed_hosts.reverse();
        assert_eq!(run(&reversed_services, &reversed_hosts), placements);
    }
    assert!(
        scheduled >= 25,
        "only {scheduled} generated projects scheduled"
    );
}

fn pinned(mut demand: ServiceDemand, replica: u32, host: &str) -> ServiceDemand {
    demand.state_pins.insert(
        replica,
        StatePin {
            host: host.to_string(),
            state: format!("volume demo_data-{replica}"),
        },
    );
    demand
}

#[test]
fn a_pinned_replica_goes_to_the_host_holding_its_state_whatever_the_spread() {
    // Spread alone would put db-1 on h1 and db-2 on h2; their volumes are on h3 and h1.
    let services = vec![pinned(pinned(service("db", 2), 1, "h3"), 2, "h1")];
    let placements = run(&services, &hosts(&["h1", "h2", "h3"]));
    assert_eq!(summary(&placements), ["db-1@h3", "db-2@h1"]);
}

#[test]
fn a_running_replica_is_not_kept_away_from_its_state() {
    let services = vec![pinned(service("db", 1), 1, "h2")];
    let existing = [placement("db", 1, "h1")];
    let placements = run_with(&services, &hosts(&["h1", "h2"]), &existing).expect("schedules");
    assert_eq!(summary(&placements), ["db-1@h2"]);
}

#[test]
fn a_constraint_that_moves_a_pinned_replica_is_refused_naming_both_hosts() {
    let services = vec![pinned(
        with_constraints(service("db", 1), &["node.labels.role==db"]),
        1,
        "h1",
    )];
    let hosts = vec![
        host("h1", &[("role", "web")]),
        host("h2", &[("role", "db")]),
    ];
    let error = run_with(&services, &hosts, &[placement("db", 1, "h1")]).unwrap_err();
    assert!(
        matches!(&error, ScheduleError::StateWouldMove { holder, would_go_to: Some(to), .. } if holder == "h1" && to == "h2"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "service \"db\" replica 1: its volume demo_data-1 is on host h1, which can no longer take it (constraint node.labels.role==db not satisfied (role=web)); it would move to host h2, without its data"
    );
}

#[test]
fn a_pin_on_a_host_gone_from_the_inventory_is_refused() {
    let services = vec![pinned(service("db", 1), 1, "h9")];
    let error = run_with(&services, &hosts(&["h1"]), &[]).unwrap_err();
    assert!(
        matches!(
            &error,
            ScheduleError::StateWouldMove { reason, .. } if **reason == PinRejection::NotInInventory
        ),
        "{error:?}"
    );
}

#[test]
fn a_pinned_colocated_replica_whose_target_is_elsewhere_is_refused() {
    let services = vec![
        pinned(service("app", 1), 1, "h1"),
        pinned(colocated(service("side", 1), "app"), 1, "h2"),
    ];
    let error = run_with(&services, &hosts(&["h1", "h2"]), &[]).unwrap_err();
    assert!(
        matches!(&error, ScheduleError::StateWouldMove { service, reason, .. } if service == "side" && matches!(**reason, PinRejection::Colocation { .. })),
        "{error:?}"
    );
}
