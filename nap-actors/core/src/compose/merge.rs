//! Compose's merge rules, for `-f` override files and `extends`.
//!
//! `merge_service(base, overlay)` applies an overlay service onto a base, field by field as
//! Docker Compose does: scalars and `command`/`entrypoint` are replaced; maps (`environment`,
//! `labels`, `depends_on`, `networks`, …) merge by key; `ports` and plain lists append without
//! duplicates; `volumes` merge by target path; `healthcheck` and `deploy` merge field by field.

use std::collections::BTreeMap;

use super::model::*;

fn replace<T>(base: &mut Option<T>, overlay: Option<T>) {
    if overlay.is_some() {
        *base = overlay;
    }
}

fn append_unique<T: PartialEq>(base: &mut Vec<T>, overlay: Vec<T>) {
    for item in overlay {
        if !base.contains(&item) {
            base.push(item);
        }
    }
}

fn merge_map<K: Ord, V>(base: &mut BTreeMap<K, V>, overlay: BTreeMap<K, V>) {
    base.extend(overlay);
}

/// Merges an overlay `build:` onto a base one as Compose does: scalars replaced, `args` and
/// `labels` by key, lists appended without duplicates; `dockerfile` and `dockerfile_inline`
/// replace each other.
fn merge_build(base: &mut Build, overlay: Build) {
    let Build {
        context,
        dockerfile,
        dockerfile_inline,
        args,
        target,
        labels,
        network,
        extra_hosts,
        shm_size,
        no_cache,
        pull,
        tags,
        cache_from,
        context_hash: _,
    } = overlay;
    replace(&mut base.context, context);
    if dockerfile.is_some() {
        base.dockerfile_inline = None;
    }
    if dockerfile_inline.is_some() {
        base.dockerfile = None;
    }
    replace(&mut base.dockerfile, dockerfile);
    replace(&mut base.dockerfile_inline, dockerfile_inline);
    merge_map(&mut base.args, args);
    replace(&mut base.target, target);
    merge_map(&mut base.labels, labels);
    replace(&mut base.network, network);
    append_unique(&mut base.extra_hosts, extra_hosts);
    replace(&mut base.shm_size, shm_size);
    replace(&mut base.no_cache, no_cache);
    replace(&mut base.pull, pull);
    append_unique(&mut base.tags, tags);
    append_unique(&mut base.cache_from, cache_from);
}

/// Merges `overlay` onto `base`.
pub fn merge_service(base: &mut Service, overlay: Service) {
    let Service {
        blkio_config,
        cgroup,
        cgroup_parent,
        configs,
        cpu_count,
        cpu_percent,
        cpu_period,
        cpu_quota,
        cpu_rt_period,
        cpu_rt_runtime,
        cpu_shares,
        cpus,
        cpuset,
        device_cgroup_rules,
        devices,
        dns_opt,
        dns_search,
        domainname,
        group_add,
        isolation,
        mac_address,
        mem_limit,
        mem_reservation,
        mem_swappiness,
        memswap_limit,
        oom_kill_disable,
        oom_score_adj,
        pids_limit,
        platform,
        runtime,
        secrets,
        storage_opt,
        ulimits,
        userns_mode,
        uts,
        volume_driver,
        build,
        cap_add,
        cap_drop,
        command,
        container_name,
        depends_on,
        deploy,
        dns,
        entrypoint,
        environment,
        env_file,
        expose,
        extends,
        extra_hosts,
        healthcheck,
        hostname,
        image,
        init,
        ipc,
        labels,
        label_file,
        links,
        logging,
        network_mode,
        networks,
        pid,
        ports,
        privileged,
        profiles,
        read_only,
        restart,
        scale,
        security_opt,
        shm_size,
        stdin_open,
        stop_grace_period,
        stop_signal,
        sysctls,
        tmpfs,
        tty,
        user,
        volumes,
        volumes_from,
        working_dir,
        extensions,
    } = overlay;
    replace(&mut base.blkio_config, blkio_config);
    replace(&mut base.cgroup, cgroup);
    replace(&mut base.cgroup_parent, cgroup_parent);
    merge_file_refs(&mut base.configs, configs);
    replace(&mut base.cpu_count, cpu_count);
    replace(&mut base.cpu_percent, cpu_percent);
    replace(&mut base.cpu_period, cpu_period);
    replace(&mut base.cpu_quota, cpu_quota);
    replace(&mut base.cpu_rt_period, cpu_rt_period);
    replace(&mut base.cpu_rt_runtime, cpu_rt_runtime);
    replace(&mut base.cpu_shares, cpu_shares);
    replace(&mut base.cpus, cpus);
    replace(&mut base.cpuset, cpuset);
    append_unique(&mut base.device_cgroup_rules, device_cgroup_rules);
    append_unique(&mut base.devices, devices);
    append_unique(&mut base.dns_opt, dns_opt);
    append_unique(&mut base.dns_search, dns_search);
    replace(&mut base.domainname, domainname);
    append_unique(&mut base.group_add, group_add);
    replace(&mut base.isolation, isolation);
    replace(&mut base.mac_address, mac_address);
    replace(&mut base.mem_limit, mem_limit);
    replace(&mut base.mem_reservation, mem_reservation);
    replace(&mut base.mem_swappiness, mem_swappiness);
    replace(&mut base.memswap_limit, memswap_limit);
    replace(&mut base.oom_kill_disable, oom_kill_disable);
    replace(&mut base.oom_score_adj, oom_score_adj);
    replace(&mut base.pids_limit, pids_limit);
    replace(&mut base.platform, platform);
    replace(&mut base.runtime, runtime);
    merge_file_refs(&mut base.secrets, secrets);
    merge_map(&mut base.storage_opt, storage_opt);
    merge_map(&mut base.ulimits, ulimits);
    replace(&mut base.userns_mode, userns_mode);
    replace(&mut base.uts, uts);
    replace(&mut base.volume_driver, volume_driver);
    match (&mut base.build, build) {
        (Some(base_build), Some(build)) => merge_build(base_build, build),
        (slot, build) => replace(slot, build),
    }
    append_unique(&mut base.cap_add, cap_add);
    append_unique(&mut base.cap_drop, cap_drop);
    replace(&mut base.command, command);
    replace(&mut base.container_name, container_name);
    merge_map(&mut base.depends_on, depends_on);
    match (&mut base.deploy, deploy) {
        (Some(base_deploy), Some(deploy)) => merge_deploy(base_deploy, deploy),
        (slot, deploy) => replace(slot, deploy),
    }
    append_unique(&mut base.dns, dns);
    replace(&mut base.entrypoint, entrypoint);
    merge_map(&mut base.environment, environment);
    append_unique(&mut base.env_file, env_file);
    append_unique(&mut base.expose, expose);
    replace(&mut base.extends, extends);
    append_unique(&mut base.extra_hosts, extra_hosts);
    match (&mut base.healthcheck, healthcheck) {
        (Some(base_check), Some(check)) => {
            replace(&mut base_check.test, check.test);
            replace(&mut base_check.interval, check.interval);
            replace(&mut base_check.timeout, check.timeout);
            replace(&mut base_check.retries, check.retries);
            replace(&mut base_check.start_period, check.start_period);
            replace(&mut base_check.start_interval, check.start_interval);
            base_check.disable |= check.disable;
        }
        (slot, check) => replace(slot, check),
    }
    replace(&mut base.hostname, hostname);
    replace(&mut base.image, image);
    replace(&mut base.init, init);
    replace(&mut base.ipc, ipc);
    merge_map(&mut base.labels, labels);
    append_unique(&mut base.label_file, label_file);
    append_unique(&mut base.links, links);
    merge_logging(&mut base.logging, logging);
    replace(&mut base.network_mode, network_mode);
    for (name, network) in networks {
        match (base.networks.get_mut(&name), network) {
            // `networks: [x]` in an overlay keeps the base's options for x.
            (Some(_), None) => {}
            (Some(Some(existing)), Some(network)) => merge_service_network(existing, network),
            (_, network) => {
                base.networks.insert(name, network);
            }
        }
    }
    replace(&mut base.pid, pid);
    append_unique(&mut base.ports, ports);
    replace(&mut base.privileged, privileged);
    append_unique(&mut base.profiles, profiles);
    replace(&mut base.read_only, read_only);
    replace(&mut base.restart, restart);
    replace(&mut base.scale, scale);
    append_unique(&mut base.security_opt, security_opt);
    replace(&mut base.shm_size, shm_size);
    replace(&mut base.stdin_open, stdin_open);
    replace(&mut base.stop_grace_period, stop_grace_period);
    replace(&mut base.stop_signal, stop_signal);
    merge_map(&mut base.sysctls, sysctls);
    append_unique(&mut base.tmpfs, tmpfs);
    replace(&mut base.tty, tty);
    replace(&mut base.user, user);
    for mount in volumes {
        match base
            .volumes
            .iter_mut()
            .find(|existing| existing.target == mount.target)
        {
            Some(existing) => *existing = mount,
            None => base.volumes.push(mount),
        }
    }
    append_unique(&mut base.volumes_from, volumes_from);
    replace(&mut base.working_dir, working_dir);
    merge_map(&mut base.extensions, extensions);
}

/// Secret and config references merge by target path: a later file's entry for the same
/// target replaces the earlier one.
fn merge_file_refs(base: &mut Vec<ServiceFileRef>, overlay: Vec<ServiceFileRef>) {
    for reference in overlay {
        match base
            .iter_mut()
            .find(|existing| existing.target == reference.target)
        {
            Some(existing) => *existing = reference,
            None => base.push(reference),
        }
    }
}

/// `logging` merges as a mapping (options by key) unless the overlay names another driver,
/// which brings its own options: the spec's rule (and compose's).
fn merge_logging(base: &mut Option<serde_json::Value>, overlay: Option<serde_json::Value>) {
    let Some(overlay) = overlay else {
        return;
    };
    let (Some(serde_json::Value::Object(base_map)), serde_json::Value::Object(overlay_map)) =
        (base.as_mut(), &overlay)
    else {
        *base = Some(overlay);
        return;
    };
    let base_driver = base_map.get("driver");
    let overlay_driver = overlay_map.get("driver");
    if base_driver.is_some() && overlay_driver.is_some() && base_driver != overlay_driver {
        *base = Some(overlay);
        return;
    }
    for (key, value) in overlay_map {
        match (base_map.get_mut(key), value) {
            (Some(serde_json::Value::Object(base_options)), serde_json::Value::Object(options)) => {
                for (option, option_value) in options {
                    base_options.insert(option.clone(), option_value.clone());
                }
            }
            _ => {
                base_map.insert(key.clone(), value.clone());
            }
        }
    }
}

/// One network's options merge field by field; aliases append without duplicates.
fn merge_service_network(base: &mut ServiceNetwork, overlay: ServiceNetwork) {
    append_unique(&mut base.aliases, overlay.aliases);
    replace(&mut base.ipv4_address, overlay.ipv4_address);
    replace(&mut base.ipv6_address, overlay.ipv6_address);
    replace(&mut base.priority, overlay.priority);
}

fn merge_deploy(base: &mut Deploy, overlay: Deploy) {
    replace(&mut base.mode, overlay.mode);
    replace(&mut base.replicas, overlay.replicas);
    match (&mut base.placement, overlay.placement) {
        (Some(base_placement), Some(placement)) => {
            append_unique(&mut base_placement.constraints, placement.constraints);
            append_unique(&mut base_placement.preferences, placement.preferences);
            replace(
                &mut base_placement.max_replicas_per_node,
                placement.max_replicas_per_node,
            );
        }
        (slot, placement) => replace(slot, placement),
    }
    match (&mut base.resources, overlay.resources) {
        (Some(base_resources), Some(resources)) => {
            merge_resources(&mut base_resources.limits, resources.limits);
            merge_resources(&mut base_resources.reservations, resources.reservations);
        }
        (slot, resources) => replace(slot, resources),
    }
    merge_update_config(&mut base.update_config, overlay.update_config);
    merge_update_config(&mut base.rollback_config, overlay.rollback_config);
    replace(&mut base.restart_policy, overlay.restart_policy);
    merge_map(&mut base.labels, overlay.labels);
}

fn merge_resources(base: &mut Option<Resources>, overlay: Option<Resources>) {
    match (base, overlay) {
        (Some(base), Some(overlay)) => {
            replace(&mut base.cpus, overlay.cpus);
            replace(&mut base.memory, overlay.memory);
            replace(&mut base.pids, overlay.pids);
        }
        (slot, overlay) => replace(slot, overlay),
    }
}

fn merge_update_config(base: &mut Option<UpdateConfig>, overlay: Option<UpdateConfig>) {
    match (base, overlay) {
        (Some(base), Some(overlay)) => {
            replace(&mut base.parallelism, overlay.parallelism);
            replace(&mut base.delay, overlay.delay);
            replace(&mut base.failure_action, overlay.failure_action);
            replace(&mut base.monitor, overlay.monitor);
            replace(&mut base.max_failure_ratio, overlay.max_failure_ratio);
            replace(&mut base.order, overlay.order);
        }
        (slot, overlay) => replace(slot, overlay),
    }
}

/// Merges a top-level network definition (later files win field by field).
pub fn merge_network(base: &mut Network, overlay: Network, overlay_named: bool) {
    if overlay_named {
        base.name = overlay.name;
    }
    replace(&mut base.driver, overlay.driver);
    merge_map(&mut base.driver_opts, overlay.driver_opts);
    base.external |= overlay.external;
    base.internal |= overlay.internal;
    replace(&mut base.ipam, overlay.ipam);
    merge_map(&mut base.labels, overlay.labels);
}

/// Merges a top-level volume definition (later files win field by field).
pub fn merge_volume(base: &mut Volume, overlay: Volume, overlay_named: bool) {
    if overlay_named {
        base.name = overlay.name;
    }
    replace(&mut base.driver, overlay.driver);
    merge_map(&mut base.driver_opts, overlay.driver_opts);
    base.external |= overlay.external;
    merge_map(&mut base.labels, overlay.labels);
}

/// Merges a top-level secret or config: an overlay that says where the value comes from
/// (`file`, `environment`, `content`) replaces the base's source as a whole.
pub fn merge_file_object(base: &mut FileObject, overlay: FileObject, overlay_named: bool) {
    if overlay_named {
        base.name = overlay.name;
    }
    if overlay.file.is_some() || overlay.environment.is_some() || overlay.content.is_some() {
        base.file = overlay.file;
        base.environment = overlay.environment;
        base.content = overlay.content;
    }
    base.external |= overlay.external;
    merge_map(&mut base.labels, overlay.labels);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(published: &str, target: u16) -> Port {
        Port {
            mode: "ingress".into(),
            host_ip: None,
            target,
            published: Some(published.into()),
            protocol: "tcp".into(),
        }
    }

    fn mount(source: &str, target: &str) -> VolumeMount {
        VolumeMount {
            kind: "volume".into(),
            source: Some(source.into()),
            target: target.into(),
            read_only: false,
            bind: None,
            volume: None,
            tmpfs: None,
            consistency: None,
        }
    }

    #[test]
    fn merge_follows_compose_rules() {
        let mut base = Service {
            image: Some("a".into()),
            command: Some(vec!["one".into(), "two".into()]),
            environment: [
                ("A".to_string(), Some("1".to_string())),
                ("B".to_string(), None),
            ]
            .into(),
            ports: vec![port("80", 80)],
            volumes: vec![mount("x", "/data"), mount("y", "/keep")],
            expose: vec!["1".into()],
            ..Service::default()
        };
        let overlay = Service {
            command: Some(vec!["three".into()]),
            environment: [("B".to_string(), Some("2".to_string()))].into(),
            ports: vec![port("80", 80), port("443", 443)],
            volumes: vec![mount("z", "/data")],
            expose: vec!["1".into(), "2".into()],
            ..Service::default()
        };
        merge_service(&mut base, overlay);
        assert_eq!(base.image.as_deref(), Some("a"));
        assert_eq!(base.command, Some(vec!["three".to_string()]));
        assert_eq!(base.environment["A"].as_deref(), Some("1"));
        assert_eq!(base.environment["B"].as_deref(), Some("2"));
        assert_eq!(base.ports.len(), 2);
        assert_eq!(base.volumes, vec![mount("z", "/data"), mount("y", "/keep")]);
        assert_eq!(base.expose, ["1", "2"]);
    }

    #[test]
    fn logging_options_merge_unless_the_driver_changes() {
        let logging = |value: serde_json::Value| Service {
            logging: Some(value),
            ..Service::default()
        };
        let mut base = logging(serde_json::json!({
            "driver": "json-file",
            "options": {"max-size": "10m", "max-file": "5"},
        }));
        merge_service(
            &mut base,
            logging(serde_json::json!({"options": {"max-file": "3"}})),
        );
        assert_eq!(
            base.logging,
            Some(serde_json::json!({
                "driver": "json-file",
                "options": {"max-size": "10m", "max-file": "3"},
            }))
        );
        merge_service(
            &mut base,
            logging(serde_json::json!({"driver": "json-file", "options": {"compress": "true"}})),
        );
        assert_eq!(
            base.logging.as_ref().unwrap()["options"],
            serde_json::json!({"max-size": "10m", "max-file": "3", "compress": "true"})
        );
        merge_service(
            &mut base,
            logging(serde_json::json!({"driver": "syslog", "options": {"tag": "x"}})),
        );
        assert_eq!(
            base.logging,
            Some(serde_json::json!({"driver": "syslog", "options": {"tag": "x"}}))
        );
    }

    #[test]
    fn network_options_merge_and_aliases_append() {
        let networks = |aliases: &[&str], ipv4: Option<&str>| Service {
            networks: [(
                "back".to_string(),
                Some(ServiceNetwork {
                    aliases: aliases.iter().map(|a| a.to_string()).collect(),
                    ipv4_address: ipv4.map(String::from),
                    ..ServiceNetwork::default()
                }),
            )]
            .into(),
            ..Service::default()
        };
        let mut base = networks(&["api", "orders"], Some("10.0.0.2"));
        merge_service(&mut base, networks(&["orders", "orders-v2"], None));
        let back = base.networks["back"].clone().unwrap();
        assert_eq!(back.aliases, ["api", "orders", "orders-v2"]);
        assert_eq!(back.ipv4_address.as_deref(), Some("10.0.0.2"));
        merge_service(
            &mut base,
            Service {
                networks: [("back".to_string(), None)].into(),
                ..Service::default()
            },
        );
        assert_eq!(base.networks["back"].as_ref().unwrap().aliases.len(), 3);
    }

    #[test]
    fn deploy_merges_field_by_field() {
        let mut base = Service {
            deploy: Some(Deploy {
                replicas: Some(2),
                update_config: Some(UpdateConfig {
                    order: Some("start-first".into()),
                    ..UpdateConfig::default()
                }),
                ..Deploy::default()
            }),
            ..Service::default()
        };
        let overlay = Service {
            deploy: Some(Deploy {
                update_config: Some(UpdateConfig {
                    parallelism: Some(2),
                    ..UpdateConfig::default()
                }),
                ..Deploy::default()
            }),
            ..Service::default()
        };
        merge_service(&mut base, overlay);
        let deploy = base.deploy.unwrap();
        assert_eq!(deploy.replicas, Some(2));
        let update = deploy.update_config.unwrap();
        assert_eq!(
            (update.order.as_deref(), update.parallelism),
            (Some("start-first"), Some(2))
        );
    }
}
