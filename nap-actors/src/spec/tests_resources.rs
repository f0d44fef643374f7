//! Tests of the resource, device and namespace keys in the create body (`resources.rs`):
//! each key as Docker receives it, and `deploy.resources.limits` winning over the
//! service-level keys, as in Compose v2.

use super::tests::{host_config, project, spec};
use bollard::models::{
    DeviceMapping, HostConfig, HostConfigCgroupnsModeEnum, ResourcesBlkioWeightDevice,
    ResourcesUlimits, ThrottleDevice,
};

fn strings(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|item| item.to_string()).collect())
}

#[test]
fn every_resource_key_reaches_the_host_config() {
    let project = project(
        "\
name: demo
services:
  app:
    image: app
    domainname: example.com
    mem_limit: 512m
    mem_reservation: 128m
    memswap_limit: 1g
    mem_swappiness: 10
    cpus: 1.5
    cpu_shares: 512
    cpu_quota: 50000
    cpu_period: 100000
    cpuset: 0-1
    cpu_rt_period: 1000000
    cpu_rt_runtime: 950ms
    pids_limit: 100
    oom_kill_disable: true
    oom_score_adj: -500
    ulimits:
      nproc: 65535
      nofile: {soft: 1024, hard: 4096}
    devices:
      - /dev/fuse
      - /dev/ttyUSB0:/dev/ttyACM0
      - /dev/sda:r
      - /dev/kvm:/dev/kvm:rw
    device_cgroup_rules: ['c 1:3 mr']
    dns_search: [example.com]
    dns_opt: [use-vc, ndots:2]
    group_add: [audio, '1001']
    runtime: runc
    userns_mode: host
    uts: host
    cgroup: private
    cgroup_parent: nap.slice
    storage_opt: {size: 20G}
    volume_driver: local
    blkio_config:
      weight: 300
      weight_device: [{path: /dev/sda, weight: 400}]
      device_read_bps: [{path: /dev/sda, rate: 12mb}]
      device_write_bps: [{path: /dev/sda, rate: 1024k}]
      device_read_iops: [{path: /dev/sda, rate: 120}]
      device_write_iops: [{path: /dev/sda, rate: 30}]
",
    );
    let spec = spec(&project, "demo-app-1");
    assert_eq!(spec.body.domainname.as_deref(), Some("example.com"));
    let config = host_config(&spec);
    let expected = HostConfig {
        memory: Some(512 * 1024 * 1024),
        memory_reservation: Some(128 * 1024 * 1024),
        memory_swap: Some(1024 * 1024 * 1024),
        memory_swappiness: Some(10),
        nano_cpus: Some(1_500_000_000),
        cpu_shares: Some(512),
        cpu_quota: Some(50_000),
        cpu_period: Some(100_000),
        cpuset_cpus: Some("0-1".into()),
        cpu_realtime_period: Some(1_000_000),
        cpu_realtime_runtime: Some(950_000),
        pids_limit: Some(100),
        oom_kill_disable: Some(true),
        oom_score_adj: Some(-500),
        ulimits: Some(vec![
            ResourcesUlimits {
                name: Some("nofile".into()),
                soft: Some(1024),
                hard: Some(4096),
            },
            ResourcesUlimits {
                name: Some("nproc".into()),
                soft: Some(65535),
                hard: Some(65535),
            },
        ]),
        devices: Some(
            [
                ("/dev/fuse", "/dev/fuse", "rwm"),
                ("/dev/ttyUSB0", "/dev/ttyACM0", "rwm"),
                ("/dev/sda", "/dev/sda", "r"),
                ("/dev/kvm", "/dev/kvm", "rw"),
            ]
            .iter()
            .map(|(host, container, permissions)| DeviceMapping {
                path_on_host: Some(host.to_string()),
                path_in_container: Some(container.to_string()),
                cgroup_permissions: Some(permissions.to_string()),
            })
            .collect(),
        ),
        device_cgroup_rules: strings(&["c 1:3 mr"]),
        dns_search: strings(&["example.com"]),
        dns_options: strings(&["use-vc", "ndots:2"]),
        group_add: strings(&["audio", "1001"]),
        runtime: Some("runc".into()),
        userns_mode: Some("host".into()),
        uts_mode: Some("host".into()),
        cgroupns_mode: Some(HostConfigCgroupnsModeEnum::PRIVATE),
        cgroup_parent: Some("nap.slice".into()),
        storage_opt: Some([("size".to_string(), "20G".to_string())].into()),
        volume_driver: Some("local".into()),
        blkio_weight: Some(300),
        blkio_weight_device: Some(vec![ResourcesBlkioWeightDevice {
            path: Some("/dev/sda".into()),
            weight: Some(400),
        }]),
        blkio_device_read_bps: Some(vec![throttle(12 * 1024 * 1024)]),
        blkio_device_write_bps: Some(vec![throttle(1024 * 1024)]),
        blkio_device_read_iops: Some(vec![throttle(120)]),
        blkio_device_write_iops: Some(vec![throttle(30)]),
        // What every container gets, unrelated to these keys.
        network_mode: config.network_mode.clone(),
        extra_hosts: config.extra_hosts.clone(),
        ..HostConfig::default()
    };
    assert_eq!(*config, expected);
}

fn throttle(rate: i64) -> ThrottleDevice {
    ThrottleDevice {
        path: Some("/dev/sda".into()),
        rate: Some(rate),
    }
}

#[test]
fn deploy_limits_win_over_the_service_keys() {
    let project = project(
        "\
name: demo
services:
  app:
    image: app
    mem_limit: 1g
    cpus: 2
    pids_limit: 500
    memswap_limit: -1
    deploy:
      resources:
        limits: {memory: 256m, cpus: '0.25', pids: 50}
        reservations: {memory: 64m}
",
    );
    let spec = spec(&project, "demo-app-1");
    let config = host_config(&spec);
    assert_eq!(config.memory, Some(256 * 1024 * 1024));
    assert_eq!(config.nano_cpus, Some(250_000_000));
    assert_eq!(config.pids_limit, Some(50));
    assert_eq!(config.memory_swap, Some(-1));
    assert_eq!(config.memory_reservation, Some(64 * 1024 * 1024));
}

#[test]
fn a_service_without_the_keys_sets_none_of_them() {
    let project = project("name: demo\nservices:\n  app:\n    image: app\n");
    let spec = spec(&project, "demo-app-1");
    let config = host_config(&spec);
    assert_eq!(
        (
            config.memory,
            config.nano_cpus,
            &config.ulimits,
            &config.devices,
            &config.runtime,
            config.blkio_weight,
        ),
        (None, None, &None, &None, &None, None)
    );
}
