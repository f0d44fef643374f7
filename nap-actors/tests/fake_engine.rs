//! The real `nap` binary against the fake Docker Engine (`tests/fake-engine`): 20 hosts,
//! 100 containers and more, no Docker daemon, no SSH. Checks what the engines hold after
//! `up` (every container where its placement label says, with the whole name table), that
//! `ps --format json` lists them, that a second `up` changes nothing and inspects nothing
//! (the name table's hash label says what each container holds), that scaling patches the
//! running peers' hosts files by exec, and that `down` leaves nothing. Also the API calls a
//! deployment makes: no inspect after start where the address was fixed (routed mode), the
//! listing instead of an inspect where Docker picked it. No wall-clock assertions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use nap_fake_engine::engine::Call;
use nap_fake_engine::{BackgroundFake, EngineConfig, FakeConfig};
use serde_json::Value;

mod common;

use common::nap_command;

fn nap(dir: &Path, args: &[&str]) -> Output {
    let output = nap_command(dir)
        .args(args)
        .env("XDG_RUNTIME_DIR", dir)
        .output()
        .expect("run nap");
    assert!(
        output.status.success(),
        "nap {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn start_fake(dir: &Path, hosts: usize) -> BackgroundFake {
    BackgroundFake::start(FakeConfig {
        dir: dir.join("sockets"),
        hosts,
        latency: Duration::from_millis(1),
        engine: EngineConfig {
            images: vec!["nap/bench:1".to_string()],
            healthy_after: Duration::ZERO,
        },
    })
    .expect("start the fake engine")
}

fn write_inventory(dir: &Path, fake: &BackgroundFake, mode: &str) {
    let config = fake.fake().config();
    let mut text = String::from("hosts:\n");
    for index in 1..=config.hosts {
        text.push_str(&format!(
            "  {}:\n    docker: unix://{}\n    address: 127.1.0.{}\n",
            config.host_name(index),
            config.socket(index).display(),
            index + 1
        ));
    }
    text.push_str(&format!("network:\n  mode: {mode}\n"));
    std::fs::write(dir.join("nap-hosts.yml"), text).unwrap();
}

/// `services` services of `replicas` each in chains `depth` deep (service_healthy), and a
/// one-shot job the first level waits to complete.
fn write_compose(dir: &Path, services: usize, replicas: usize, depth: usize) {
    let per_level = services.div_ceil(depth);
    let mut text = String::from(
        "name: fk\nservices:\n  job:\n    image: nap/bench:1\n    command: [\"true\"]\n",
    );
    for index in 0..services {
        let (level, slot) = (index / per_level, index % per_level);
        text.push_str(&format!(
            "  s{level}x{slot}:\n    image: nap/bench:1\n    command: [sleep, infinity]\n    deploy: {{replicas: {replicas}}}\n    healthcheck: {{test: [CMD, 'true'], interval: 1s}}\n"
        ));
        if level == 0 {
            text.push_str("    depends_on: {job: {condition: service_completed_successfully}}\n");
        } else {
            text.push_str(&format!(
                "    depends_on: {{s{}x{slot}: {{condition: service_healthy}}}}\n",
                level - 1
            ));
        }
    }
    std::fs::write(dir.join("compose.yaml"), text).unwrap();
}

fn calls(fake: &BackgroundFake, route: &str) -> u64 {
    fake.fake().stats()["calls"][route].as_u64().unwrap_or(0)
}

/// Every container of every engine, by host name.
fn containers(fake: &BackgroundFake) -> BTreeMap<String, Vec<Value>> {
    let config = fake.fake().config();
    (1..=config.hosts)
        .map(|index| {
            let listed = fake
                .fake()
                .call(index, &Call::get("/containers/json", &[("all", "true")]))
                .and_then(|reply| reply.json())
                .expect("a listing");
            (
                config.host_name(index),
                listed.as_array().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

fn inspect(fake: &BackgroundFake, host: &str, container: &str) -> Value {
    let config = fake.fake().config();
    let index = (1..=config.hosts)
        .find(|index| config.host_name(*index) == host)
        .expect("a host of the fake");
    fake.fake()
        .call(
            index,
            &Call::get(&format!("/containers/{container}/json"), &[]),
        )
        .and_then(|reply| reply.json())
        .expect("an inspect")
}

fn hosts_file(fake: &BackgroundFake, host: &str, container: &str) -> String {
    let config = fake.fake().config();
    let index = (1..=config.hosts)
        .find(|index| config.host_name(*index) == host)
        .expect("a host of the fake");
    let reply = fake
        .fake()
        .call(
            index,
            &Call::get(
                &format!("/containers/{container}/archive"),
                &[("path", "/etc/hosts")],
            ),
        )
        .expect("an archive");
    match reply {
        nap_fake_engine::engine::Reply::Bytes(200, _, tar) => String::from_utf8_lossy(&tar[512..])
            .trim_end_matches('\0')
            .to_string(),
        other => panic!("no hosts file for {container}: {other:?}"),
    }
}

fn label<'a>(container: &'a Value, key: &str) -> &'a str {
    container["Labels"][key].as_str().unwrap_or("")
}

#[test]
fn nap_deploys_a_hundred_containers_on_twenty_fake_hosts_and_takes_them_down() {
    let dir = tempfile::tempdir().unwrap();
    let fake = start_fake(dir.path(), 20);
    write_inventory(dir.path(), &fake, "published");
    write_compose(dir.path(), 10, 10, 5);

    nap(dir.path(), &["up"]);

    // Every container on the host its label names, running (the job completed), with the
    // placement labels and its hosts file's; the name table is in that file (one per host,
    // written through a helper container: the fake hosts have no SSH), not in the body.
    let held = containers(&fake);
    let mut names = BTreeSet::new();
    for (host, listed) in &held {
        for container in listed {
            assert_eq!(label(container, "nap.project"), "fk");
            assert_eq!(label(container, "nap.host"), host);
            assert!(!label(container, "nap.config-hash").is_empty());
            assert!(label(container, "nap.hosts-file").starts_with("v-"));
            let expected_state = if label(container, "nap.service") == "job" {
                "exited"
            } else {
                "running"
            };
            assert_eq!(container["State"], expected_state, "{container}");
            names.insert(
                container["Names"][0]
                    .as_str()
                    .unwrap()
                    .trim_start_matches('/')
                    .to_string(),
            );
        }
        // Spread: 101 containers on 20 hosts.
        assert!((5..=6).contains(&listed.len()), "{host}: {}", listed.len());
    }
    assert_eq!(names.len(), 101);
    let (host, first) = held.iter().find(|(_, l)| !l.is_empty()).unwrap();
    let first_name = first[0]["Names"][0]
        .as_str()
        .unwrap()
        .trim_start_matches('/');
    let first_inspect = inspect(&fake, host, first_name);
    assert!(
        first_inspect["HostConfig"]["ExtraHosts"].is_null(),
        "small create bodies: {}",
        first_inspect["HostConfig"]["ExtraHosts"]
    );
    let file = hosts_file(&fake, host, first_name);
    for name in &names {
        assert!(
            file.lines()
                .any(|line| line.starts_with("127.1.0.") && line.ends_with(&format!("\t{name}"))),
            "{first_name} does not resolve {name}"
        );
    }
    // One file per host (one view), and every write was one helper run per host.
    for index in 1..=20 {
        let files = fake.fake().host_files(index).unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(
            files[0]
                .0
                .starts_with(&format!("/var/lib/nap/fk/h{index:03}/v-")),
            "{}",
            files[0].0
        );
    }

    // ps lists them all, healthy.
    let ps: Vec<Value> =
        serde_json::from_slice(&nap(dir.path(), &["ps", "-a", "--format", "json"]).stdout).unwrap();
    assert_eq!(ps.len(), 101);
    assert_eq!(
        ps.iter()
            .filter(|row| row["state"] == "running" && row["health"] == "healthy")
            .count(),
        100
    );

    // A second up changes nothing and, the containers being labelled, inspects nothing and
    // writes no file.
    fake.fake().reset_stats();
    nap(dir.path(), &["up"]);
    // The one create is the project lock's (`host_lock.rs`), on the lock host.
    assert_eq!(calls(&fake, "POST /containers/create"), 1);
    assert_eq!(calls(&fake, "POST /containers/{id}/start"), 0);
    // The one inspect is the lock's release check.
    assert_eq!(calls(&fake, "GET /containers/{id}/json"), 1);
    assert_eq!(calls(&fake, "PUT /containers/{id}/archive"), 0);

    // One more replica of s4x0: every host's file gets it, one write per host (one helper
    // run each), and no running container is touched.
    let compose = std::fs::read_to_string(dir.path().join("compose.yaml")).unwrap();
    let scaled = compose.replacen(
        "  s4x0:\n    image: nap/bench:1\n    command: [sleep, infinity]\n    deploy: {replicas: 10}",
        "  s4x0:\n    image: nap/bench:1\n    command: [sleep, infinity]\n    deploy: {replicas: 11}",
        1,
    );
    assert_ne!(scaled, compose);
    std::fs::write(dir.path().join("compose.yaml"), scaled).unwrap();
    fake.fake().reset_stats();
    nap(dir.path(), &["up"]);
    assert_eq!(
        calls(&fake, "POST /containers/create"),
        1 + 20 + 1,
        "the replica, 20 hosts-file helpers and the project lock"
    );
    assert_eq!(calls(&fake, "PUT /containers/{id}/archive"), 20);
    assert_eq!(calls(&fake, "POST /containers/{id}/start"), 1 + 20);
    assert_eq!(calls(&fake, "POST /exec/{id}/start"), 0);
    let peer = held
        .iter()
        .flat_map(|(host, listed)| listed.iter().map(move |c| (host, c)))
        .find(|(_, c)| label(c, "nap.service") == "s0x0")
        .unwrap();
    let peer_name = peer.1["Names"][0].as_str().unwrap().trim_start_matches('/');
    assert!(
        hosts_file(&fake, peer.0, peer_name).contains("\tfk-s4x0-11\n"),
        "{}",
        hosts_file(&fake, peer.0, peer_name)
    );
    // A restart keeps the file (Docker does not rewrite a bind-mounted /etc/hosts).
    fake.fake()
        .call(
            held.keys().position(|h| h == peer.0).unwrap() + 1,
            &Call {
                method: "POST".to_string(),
                path: format!("/containers/{peer_name}/restart"),
                query: Vec::new(),
                body: Vec::new(),
            },
        )
        .unwrap();
    assert!(hosts_file(&fake, peer.0, peer_name).contains("\tfk-s4x0-11\n"));
    // And the next up writes nothing.
    fake.fake().reset_stats();
    nap(dir.path(), &["up"]);
    assert_eq!(calls(&fake, "PUT /containers/{id}/archive"), 0);
    assert_eq!(calls(&fake, "POST /exec/{id}/start"), 0);

    nap(dir.path(), &["down"]);
    assert!(containers(&fake).values().all(Vec::is_empty));
    for index in 1..=20 {
        assert_eq!(
            fake.fake().host_files(index).unwrap(),
            Vec::new(),
            "down removes the files"
        );
    }
    let networks = fake
        .fake()
        .call(1, &Call::get("/networks", &[]))
        .and_then(|reply| reply.json())
        .unwrap();
    assert!(
        networks
            .as_array()
            .unwrap()
            .iter()
            .all(|network| network["Name"] != "fk_default")
    );
}

#[test]
fn starts_ask_the_daemon_only_what_the_plan_does_not_know() {
    // Routed mode on one host (no routes, so no SSH): every address is fixed by the plan, so
    // a start is the start call alone; inspects are the health waits.
    let dir = tempfile::tempdir().unwrap();
    let fake = start_fake(dir.path(), 1);
    write_inventory(dir.path(), &fake, "routed");
    write_compose(dir.path(), 5, 4, 5);
    nap(dir.path(), &["up"]);
    let waits_healthy = 4 * 4; // levels 0-3 are waited for, 4 replicas each
    let waits_completed = 1;
    let lock_release_check = 1; // host_lock.rs: is the lock still ours?
    // 21 containers, and the hosts-file helper of the host's one view.
    assert_eq!(calls(&fake, "POST /containers/{id}/start"), 21 + 1);
    assert_eq!(
        calls(&fake, "GET /containers/{id}/json"),
        waits_healthy + waits_completed + lock_release_check
    );
    assert_eq!(
        calls(&fake, "GET /containers/json"),
        1,
        "the observation only"
    );
    let held = containers(&fake);
    for container in &held["h001"] {
        let name = container["Names"][0]
            .as_str()
            .unwrap()
            .trim_start_matches('/');
        let inspect = inspect(&fake, "h001", name);
        let fixed =
            &inspect["NetworkSettings"]["Networks"]["fk_default"]["IPAMConfig"]["IPv4Address"];
        if container["State"] == "running" {
            assert_eq!(
                fixed, &inspect["NetworkSettings"]["Networks"]["fk_default"]["IPAddress"],
                "{name}"
            );
        }
    }

    // Published mode: Docker picks the address, read from the listing (one small call).
    let dir = tempfile::tempdir().unwrap();
    let fake = start_fake(dir.path(), 2);
    write_inventory(dir.path(), &fake, "published");
    write_compose(dir.path(), 5, 4, 5);
    nap(dir.path(), &["up"]);
    assert_eq!(calls(&fake, "GET /containers/json"), 2 + 21);
    assert_eq!(
        calls(&fake, "GET /containers/{id}/json"),
        waits_healthy + waits_completed + lock_release_check
    );
    let ps: Vec<Value> =
        serde_json::from_slice(&nap(dir.path(), &["ps", "-a", "--format", "json"]).stdout).unwrap();
    assert!(
        ps.iter()
            .filter(|row| row["state"] == "running")
            .all(|row| row["ip"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("172.18.0."))),
        "{ps:?}"
    );
}

#[test]
fn pull_pulls_each_services_image_once_on_each_host_that_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let fake = start_fake(dir.path(), 4);
    write_inventory(dir.path(), &fake, "published");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "name: fkpull\nservices:\n  web:\n    image: nap/web:2\n    deploy: {replicas: 2}\n  db:\n    image: nap/db:3\n",
    )
    .unwrap();
    let output = nap(dir.path(), &["pull", "--format", "json"]);
    let events: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let pulled: BTreeSet<(String, String)> = events
        .iter()
        .filter(|event| event["event"] == "finished" && event["ok"] == true)
        .map(|event| {
            (
                event["host"].as_str().unwrap().to_string(),
                event["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Three replicas on three of the four hosts: one pull per (host, image).
    assert_eq!(pulled.len(), 3, "{events:#?}");
    assert_eq!(calls(&fake, "POST /images/create"), 3);
    assert_eq!(
        pulled
            .iter()
            .filter(|(_, image)| image == "nap/web:2")
            .count(),
        2
    );
    // The images are on those hosts now; nothing was created.
    assert_eq!(calls(&fake, "POST /containers/create"), 0);
    let only_db = nap(dir.path(), &["pull", "-q", "db"]);
    assert!(only_db.stdout.is_empty(), "-q prints no progress");
    assert_eq!(calls(&fake, "POST /images/create"), 4);
}

#[test]
fn each_replica_gets_its_own_volume_and_volume_ls_shows_them_with_their_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let fake = start_fake(dir.path(), 2);
    write_inventory(dir.path(), &fake, "published");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "name: fk\nservices:\n  db:\n    image: nap/bench:1\n    command: [sleep, infinity]\n    volumes: [data:/data]\n    deploy: {replicas: 2}\nvolumes:\n  data: {}\n",
    )
    .unwrap();
    nap(dir.path(), &["up"]);
    let listed: Vec<Value> =
        serde_json::from_slice(&nap(dir.path(), &["volume", "ls", "--format", "json"]).stdout)
            .unwrap();
    let rows: Vec<(String, String)> = listed
        .iter()
        .map(|row| {
            (
                row["name"].as_str().unwrap().to_string(),
                row["host"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // One volume per replica, each on its replica's host; the hosts record is not listed.
    assert_eq!(
        rows,
        [
            ("fk_data".to_string(), "h001".to_string()),
            ("fk_data-2".to_string(), "h002".to_string())
        ]
    );
    nap(dir.path(), &["down", "-v"]);
    let listed: Vec<Value> =
        serde_json::from_slice(&nap(dir.path(), &["volume", "ls", "--format", "json"]).stdout)
            .unwrap();
    assert!(listed.is_empty(), "{listed:?}");
}
