//! Names that leave a compose file or an inventory are validated at load time: one test per
//! rule, each with a value that loads and one that fails with `file:line: key:`, including
//! the newline-in-alias attack that used to add `6.6.6.6 github.com` to every peer's hosts
//! file.

use std::path::{Path, PathBuf};

use nap_core::compose::{LoadOptions, MemoryFileSystem, load_with, normalize_project_name};
use nap_core::inventory::Inventory;

fn load(compose: &str) -> Result<nap_core::compose::Loaded, String> {
    let fs = MemoryFileSystem::default().with("/p/compose.yaml", compose);
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        ..LoadOptions::default()
    };
    load_with(&options, &fs).map_err(|error| error.to_string())
}

/// `good` loads; `bad` fails with a message starting with `/p/compose.yaml:<line>: <key>:`.
fn rule(good: &str, bad: &str, line: usize, key: &str) -> String {
    if let Err(message) = load(good) {
        panic!("valid file refused: {message}\n{good}");
    }
    let message = match load(bad) {
        Ok(_) => panic!("invalid file loaded:\n{bad}"),
        Err(message) => message,
    };
    let prefix = format!("/p/compose.yaml:{line}: {key}:");
    assert!(message.starts_with(&prefix), "{message:?} lacks {prefix:?}");
    message
}

#[test]
fn a_newline_in_an_alias_fails_the_load() {
    let good = "services:\n  web:\n    image: x\n    networks:\n      front:\n        aliases: [www]\nnetworks:\n  front: {}\n";
    let bad = "services:\n  web:\n    image: x\n    networks:\n      front:\n        aliases:\n          - \"www\\n6.6.6.6 github.com\"\nnetworks:\n  front: {}\n";
    let message = rule(good, bad, 7, "services.web.networks.front.aliases[0]");
    assert!(message.contains("not a host name"), "{message}");
    assert!(!message.contains('\n'), "{message:?}");
}

#[test]
fn aliases_allow_underscores_but_not_spaces_or_bad_labels() {
    let good = "services:\n  web:\n    image: x\n    networks:\n      front:\n        aliases: [my_web, api.internal]\nnetworks:\n  front: {}\n";
    for alias in ["\"a b\"", "-web", "web-", "a..b", "\"a\\tb\""] {
        let bad = format!(
            "services:\n  web:\n    image: x\n    networks:\n      front:\n        aliases:\n          - {alias}\nnetworks:\n  front: {{}}\n"
        );
        rule(good, &bad, 7, "services.web.networks.front.aliases[0]");
    }
    let long = "a".repeat(64);
    let bad = format!(
        "services:\n  web:\n    image: x\n    networks:\n      front:\n        aliases:\n          - {long}\nnetworks:\n  front: {{}}\n"
    );
    rule(good, &bad, 7, "services.web.networks.front.aliases[0]");
}

#[test]
fn service_names_follow_compose_and_must_be_dns_names() {
    let good = "services:\n  my_web.v1:\n    image: x\n";
    let bad = "services:\n  \"web app\":\n    image: x\n";
    let message = rule(good, bad, 2, "services.web app");
    assert!(message.contains("compose's rule"), "{message}");
    let bad = "services:\n  -web:\n    image: x\n";
    let message = rule(good, bad, 2, "services.-web");
    assert!(message.contains("cannot become a DNS name"), "{message}");
    let bad = "services:\n  \"a\\nb\":\n    image: x\n";
    let message = load(bad).unwrap_err();
    assert!(message.contains("services.a\\nb:"), "{message}");
    assert!(!message.contains('\n'), "{message:?}");
}

#[test]
fn container_name_follows_docker() {
    let good = "services:\n  web:\n    image: x\n    container_name: my_web.1-a\n";
    for name in ["_web", "a", "\"a b\"", "\"a\\nb\"", "/web"] {
        let bad = format!("services:\n  web:\n    image: x\n    container_name: {name}\n");
        let message = rule(good, &bad, 4, "services.web.container_name");
        assert!(message.contains("Docker's rule"), "{message}");
    }
}

#[test]
fn hostname_is_a_host_name() {
    let good = "services:\n  web:\n    image: x\n    hostname: gitlab.example.com\n";
    let bad = "services:\n  web:\n    image: x\n    hostname: \"gitlab\\n6.6.6.6 github.com\"\n";
    rule(good, bad, 4, "services.web.hostname");
    let bad = "services:\n  web:\n    image: x\n    hostname: \"a;reboot\"\n";
    rule(good, bad, 4, "services.web.hostname");
}

#[test]
fn domainname_is_a_host_name() {
    let good = "services:\n  web:\n    image: x\n    domainname: example.com\n";
    let bad = "services:\n  web:\n    image: x\n    domainname: \"example com\"\n";
    rule(good, bad, 4, "services.web.domainname");
}

#[test]
fn link_aliases_are_host_names() {
    let good =
        "services:\n  db:\n    image: x\n  web:\n    image: x\n    links: [\"db:database\", db]\n";
    let bad = "services:\n  db:\n    image: x\n  web:\n    image: x\n    links:\n      - \"db:data base\"\n";
    let message = rule(good, bad, 7, "services.web.links[0]");
    assert!(message.contains("link alias"), "{message}");
}

#[test]
fn external_links_name_a_container_and_an_alias() {
    let good =
        "services:\n  web:\n    image: x\n    external_links: [\"redis_1:redis\", other-db]\n";
    let bad = "services:\n  web:\n    image: x\n    external_links:\n      - \"redis_1:re dis\"\n";
    rule(good, bad, 5, "services.web.external_links[0]");
    let bad = "services:\n  web:\n    image: x\n    external_links:\n      - \"-x:redis\"\n";
    rule(good, bad, 5, "services.web.external_links[0]");
}

#[test]
fn extra_hosts_list_form() {
    let good = "services:\n  web:\n    image: x\n    extra_hosts:\n      - \"somehost:162.242.195.82\"\n      - \"v6=::1\"\n      - \"v6b=[::1]\"\n      - \"host.docker.internal:host-gateway\"\n";
    let loaded = load(good).unwrap();
    assert_eq!(
        loaded.project.services["web"].extra_hosts,
        [
            "somehost:162.242.195.82",
            "v6:::1",
            "v6b:::1",
            "host.docker.internal:host-gateway"
        ]
    );
    for entry in [
        "\"somehost:162.242.195.82\\n6.6.6.6 github.com\"",
        "\"some host:1.2.3.4\"",
        "\"somehost:github.com\"",
        "\"somehost: 1.2.3.4\"",
        "somehost",
        "\"somehost=[1.2.3.4]\"",
    ] {
        let bad = format!("services:\n  web:\n    image: x\n    extra_hosts:\n      - {entry}\n");
        rule(good, &bad, 5, "services.web.extra_hosts[0]");
    }
}

#[test]
fn extra_hosts_map_form() {
    let good = "services:\n  web:\n    image: x\n    extra_hosts:\n      somehost: 162.242.195.82\n      v6: \"::1\"\n      gw: host-gateway\n";
    load(good).unwrap();
    let bad = "services:\n  web:\n    image: x\n    extra_hosts:\n      somehost: \"1.2.3.4\\n6.6.6.6 github.com\"\n";
    rule(good, bad, 5, "services.web.extra_hosts.somehost");
    let bad = "services:\n  web:\n    image: x\n    extra_hosts:\n      \"some\\nhost\": 1.2.3.4\n";
    let message = load(bad).unwrap_err();
    assert!(message.contains("not a host name"), "{message}");
}

#[test]
fn project_names_are_reduced_to_a_safe_form() {
    assert_eq!(
        normalize_project_name("My App\n6.6.6.6 x; rm -rf /"),
        "myapp6666xrm-rf"
    );
    let fs =
        MemoryFileSystem::default().with("/p/compose.yaml", "services:\n  web:\n    image: x\n");
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        project_name: Some("$(reboot)\n`id`".to_string()),
        ..LoadOptions::default()
    };
    let name = load_with(&options, &fs).unwrap().project.name;
    assert_eq!(name, "rebootid");
    assert!(
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    );
}

// ---------------------------------------------------------------------------------------
// The inventory

fn inventory(text: &str) -> Result<Inventory, String> {
    Inventory::parse(Path::new("/lab/nap-hosts.yml"), text)
        .map(|(inventory, _)| inventory)
        .map_err(|error| error.to_string())
}

fn inventory_rule(good: &str, bad: &str, line: usize, key: &str) -> String {
    if let Err(message) = inventory(good) {
        panic!("valid inventory refused: {message}\n{good}");
    }
    let message = inventory(bad).expect_err(bad);
    let prefix = format!("/lab/nap-hosts.yml:{line}: {key}:");
    assert!(message.starts_with(&prefix), "{message:?} lacks {prefix:?}");
    message
}

const PUBLISHED: &str = "network: {mode: published}\n";

#[test]
fn inventory_host_names_are_host_names() {
    let good =
        format!("hosts:\n  node-1.example.com:\n    docker: tcp://10.0.0.1:2375\n{PUBLISHED}");
    let bad = format!("hosts:\n  \"node 1\":\n    docker: tcp://10.0.0.1:2375\n{PUBLISHED}");
    let message = inventory_rule(&good, &bad, 2, "hosts.node 1");
    assert!(message.contains("host name"), "{message}");
    let bad = format!("hosts:\n  \"-h\":\n    docker: tcp://10.0.0.1:2375\n{PUBLISHED}");
    inventory_rule(&good, &bad, 2, "hosts.-h");
}

#[test]
fn inventory_addresses_are_ips_or_host_names() {
    let good = format!(
        "hosts:\n  h1:\n    docker: tcp://10.0.0.1:2375\n    address: node1.example.com\n  h2:\n    docker: \"tcp://[fd00::2]:2375\"\n    address: 10.0.0.2\n{PUBLISHED}"
    );
    let bad = format!(
        "hosts:\n  h1:\n    docker: tcp://10.0.0.1:2375\n    address: \"10.0.0.1 dev eth0\"\n{PUBLISHED}"
    );
    let message = inventory_rule(&good, &bad, 4, "hosts.h1.address");
    assert!(message.contains("host \"h1\""), "{message}");
    let bad = format!("hosts:\n  h1:\n    docker: \"tcp://a;b:2375\"\n{PUBLISHED}");
    inventory_rule(&good, &bad, 3, "hosts.h1.docker");
}

#[test]
fn inventory_ssh_users_are_posix_user_names() {
    let good = format!(
        "hosts:\n  h1:\n    docker: tcp://10.0.0.1:2375\n    ssh: deploy.user@10.0.0.1\n{PUBLISHED}"
    );
    for user in [
        "\"-oProxyCommand=x@10.0.0.1\"",
        "\"a b@10.0.0.1\"",
        "\"$(id)@10.0.0.1\"",
    ] {
        let bad =
            format!("hosts:\n  h1:\n    docker: tcp://10.0.0.1:2375\n    ssh: {user}\n{PUBLISHED}");
        let message = inventory_rule(&good, &bad, 4, "hosts.h1.ssh");
        assert!(message.contains("POSIX user name"), "{message}");
    }
    let bad = format!("hosts:\n  h1:\n    docker: \"ssh://-x@10.0.0.1\"\n{PUBLISHED}");
    inventory_rule(&good, &bad, 3, "hosts.h1.docker");
}

#[test]
fn inventory_labels_have_simple_keys_and_one_line_values() {
    let good = format!(
        "hosts:\n  h1:\n    docker: tcp://10.0.0.1:2375\n    labels: {{zone: eu west, com.example.tier: db}}\n{PUBLISHED}"
    );
    let bad = format!(
        "hosts:\n  h1:\n    docker: tcp://10.0.0.1:2375\n    labels:\n      zone: \"a\\nb\"\n{PUBLISHED}"
    );
    inventory_rule(&good, &bad, 5, "hosts.h1.labels.zone");
    let bad = format!(
        "hosts:\n  h1:\n    docker: tcp://10.0.0.1:2375\n    labels:\n      \"zo ne\": a\n{PUBLISHED}"
    );
    inventory_rule(&good, &bad, 5, "hosts.h1.labels.zo ne");
}
