//! The YAML tags `!reset` and `!override` of the Compose Specification's merge rules.
//!
//! In a file merged over another, `key: !reset …` removes what earlier files set for the
//! key (the value written under the tag is ignored) and `key: !override …` replaces it
//! instead of merging with it. nap takes them on a service's keys (`ports: !reset []`) and
//! on the entries of a service's mapping keys (`environment: {DEBUG: !reset null}`,
//! `deploy: {resources: !reset {}}`); a tag
//! anywhere else, or any other tag, is an error naming its line. [`take_tags`] removes the
//! tags from a file's YAML before it is read into the model and returns them; the loader
//! applies them with [`apply_tags`] when it merges that file's service.

use serde_yaml::Value;

use crate::compose::LoadError;
use crate::compose::model::Service;
use crate::compose::source::SourceMap;

/// What a tag asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TagAction {
    /// `!reset`: earlier files' value removed, this file's ignored.
    Reset,
    /// `!override`: earlier files' value replaced by this file's.
    Override,
}

/// One tag found in a file, on `services.<service>.<key>[.<entry>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServiceTag {
    pub service: String,
    pub key: String,
    pub entry: Option<String>,
    pub action: TagAction,
}

fn action_of(tag: &serde_yaml::value::Tag) -> Option<TagAction> {
    if *tag == "reset" {
        Some(TagAction::Reset)
    } else if *tag == "override" {
        Some(TagAction::Override)
    } else {
        None
    }
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(text) => text.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Takes the `!reset` / `!override` tags off a file's services: a reset key is removed, an
/// override key keeps its value. Any tag left elsewhere is an error.
pub(super) fn take_tags(map: &SourceMap, value: &mut Value) -> Result<Vec<ServiceTag>, LoadError> {
    let mut tags = Vec::new();
    if let Some(Value::Mapping(services)) = value.get_mut("services") {
        for (service_key, service) in services.iter_mut() {
            let service_name = key_text(service_key);
            let Value::Mapping(keys) = service else {
                continue;
            };
            let mut removed = Vec::new();
            for (key, entry) in keys.iter_mut() {
                let key_name = key_text(key);
                if let Some(action) = untag(entry) {
                    tags.push(ServiceTag {
                        service: service_name.clone(),
                        key: key_name.clone(),
                        entry: None,
                        action,
                    });
                    if action == TagAction::Reset {
                        removed.push(key.clone());
                    }
                    continue;
                }
                let Value::Mapping(entries) = entry else {
                    continue;
                };
                let mut removed_entries = Vec::new();
                for (entry_key, entry_value) in entries.iter_mut() {
                    if let Some(action) = untag(entry_value) {
                        tags.push(ServiceTag {
                            service: service_name.clone(),
                            key: key_name.clone(),
                            entry: Some(key_text(entry_key)),
                            action,
                        });
                        if action == TagAction::Reset {
                            removed_entries.push(entry_key.clone());
                        }
                    }
                }
                for entry_key in removed_entries {
                    entries.remove(&entry_key);
                }
            }
            for key in removed {
                keys.remove(&key);
            }
        }
    }
    refuse_tags(map, "", value)?;
    Ok(tags)
}

/// Replaces a `!reset`/`!override` tagged value by its content and says which it was.
fn untag(value: &mut Value) -> Option<TagAction> {
    let Value::Tagged(tagged) = value else {
        return None;
    };
    let action = action_of(&tagged.tag)?;
    let inner = std::mem::replace(&mut tagged.value, Value::Null);
    *value = inner;
    Some(action)
}

fn refuse_tags(map: &SourceMap, path: &str, value: &Value) -> Result<(), LoadError> {
    match value {
        Value::Tagged(tagged) => {
            let message = match action_of(&tagged.tag) {
                Some(_) => format!(
                    "{} is only supported on a service's keys and the entries of its mappings",
                    tagged.tag
                ),
                None => format!("unknown YAML tag {}", tagged.tag),
            };
            Err(LoadError::Invalid {
                location: map.locate(path),
                key: if path.is_empty() {
                    "(top level)".to_string()
                } else {
                    path.to_string()
                },
                message,
            })
        }
        Value::Mapping(mapping) => {
            for (key, child) in mapping {
                let key = key_text(key);
                let child_path = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                refuse_tags(map, &child_path, child)?;
            }
            Ok(())
        }
        Value::Sequence(items) => {
            for (index, child) in items.iter().enumerate() {
                refuse_tags(map, &format!("{path}[{index}]"), child)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Clears one of a service's keys (its compose name) to nothing; `false` for a key the
/// model does not hold.
fn clear_key(service: &mut Service, key: &str) -> bool {
    macro_rules! clear {
        ($($field:ident),* $(,)?) => {
            match key {
                $(stringify!($field) => service.$field = Default::default(),)*
                extension if extension.starts_with("x-") => {
                    service.extensions.remove(extension);
                }
                _ => return false,
            }
        };
    }
    clear!(
        blkio_config,
        build,
        cap_add,
        cap_drop,
        cgroup,
        cgroup_parent,
        command,
        configs,
        container_name,
        cpu_count,
        cpu_percent,
        cpu_period,
        cpu_quota,
        cpu_rt_period,
        cpu_rt_runtime,
        cpu_shares,
        cpus,
        cpuset,
        depends_on,
        deploy,
        device_cgroup_rules,
        devices,
        dns,
        dns_opt,
        dns_search,
        domainname,
        entrypoint,
        env_file,
        environment,
        expose,
        extends,
        extra_hosts,
        group_add,
        healthcheck,
        hostname,
        image,
        init,
        ipc,
        isolation,
        labels,
        links,
        logging,
        mac_address,
        mem_limit,
        mem_reservation,
        mem_swappiness,
        memswap_limit,
        network_mode,
        networks,
        oom_kill_disable,
        oom_score_adj,
        pid,
        pids_limit,
        platform,
        ports,
        privileged,
        profiles,
        read_only,
        restart,
        runtime,
        scale,
        secrets,
        security_opt,
        shm_size,
        stdin_open,
        stop_grace_period,
        stop_signal,
        storage_opt,
        sysctls,
        tmpfs,
        tty,
        ulimits,
        user,
        userns_mode,
        uts,
        volume_driver,
        volumes,
        volumes_from,
        working_dir,
    );
    true
}

fn is_deploy_key(entry: &str) -> bool {
    [
        "mode",
        "replicas",
        "placement",
        "resources",
        "update_config",
        "rollback_config",
        "restart_policy",
        "labels",
    ]
    .contains(&entry)
}

fn is_healthcheck_key(entry: &str) -> bool {
    [
        "test",
        "interval",
        "timeout",
        "retries",
        "start_period",
        "start_interval",
        "disable",
    ]
    .contains(&entry)
}

/// Removes one entry of a service's mapping key; `false` for a key that is not a mapping
/// in the model.
fn clear_entry(service: &mut Service, key: &str, entry: &str) -> bool {
    match key {
        "environment" => {
            service.environment.remove(entry);
        }
        "labels" => {
            service.labels.remove(entry);
        }
        "sysctls" => {
            service.sysctls.remove(entry);
        }
        "storage_opt" => {
            service.storage_opt.remove(entry);
        }
        "ulimits" => {
            service.ulimits.remove(entry);
        }
        "depends_on" => {
            service.depends_on.remove(entry);
        }
        "networks" => {
            service.networks.remove(entry);
        }
        "deploy" => {
            let Some(deploy) = service.deploy.as_mut() else {
                return is_deploy_key(entry);
            };
            match entry {
                "mode" => deploy.mode = None,
                "replicas" => deploy.replicas = None,
                "placement" => deploy.placement = None,
                "resources" => deploy.resources = None,
                "update_config" => deploy.update_config = None,
                "rollback_config" => deploy.rollback_config = None,
                "restart_policy" => deploy.restart_policy = None,
                "labels" => deploy.labels.clear(),
                _ => return false,
            }
        }
        "healthcheck" => {
            let Some(check) = service.healthcheck.as_mut() else {
                return is_healthcheck_key(entry);
            };
            match entry {
                "test" => check.test = None,
                "interval" => check.interval = None,
                "timeout" => check.timeout = None,
                "retries" => check.retries = None,
                "start_period" => check.start_period = None,
                "start_interval" => check.start_interval = None,
                "disable" => check.disable = false,
                _ => return false,
            }
        }
        _ => return false,
    }
    true
}

/// Applies a file's tags for `name` before its service (`overlay`) is merged onto `base`
/// (the earlier files' service, if any). A tag on something nap's model cannot clear is an
/// error naming the file and line.
pub(super) fn apply_tags(
    map: &SourceMap,
    tags: &[ServiceTag],
    name: &str,
    mut base: Option<&mut Service>,
    overlay: &mut Service,
) -> Result<(), LoadError> {
    for tag in tags.iter().filter(|tag| tag.service == name) {
        let path = match &tag.entry {
            Some(entry) => format!("services.{name}.{}.{entry}", tag.key),
            None => format!("services.{name}.{}", tag.key),
        };
        let clear = |service: &mut Service| match &tag.entry {
            Some(entry) => clear_entry(service, &tag.key, entry),
            None => clear_key(service, &tag.key),
        };
        let known = match base.as_deref_mut() {
            Some(base) => clear(base),
            None => clear(&mut Service::default()),
        };
        if tag.action == TagAction::Reset {
            clear(overlay);
        }
        if !known {
            return Err(LoadError::Invalid {
                location: map.locate(&path),
                key: path,
                message: "!reset and !override apply to a service's keys and to entries of environment, labels, sysctls, storage_opt, ulimits, depends_on, networks, deploy and healthcheck".to_string(),
            });
        }
    }
    Ok(())
}
