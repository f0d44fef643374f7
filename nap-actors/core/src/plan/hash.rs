//! The hash labelled on containers: a service's config hash, stable across key order and nap
//! versions.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::compose::Service;

/// Hash of a service's normalized config: SHA-256 over canonical JSON (object keys sorted,
/// empty fields left out), ignoring what does not change the container (replica count,
/// placement, update policy, profiles, `depends_on`). Stable across key order and nap
/// versions that add fields left empty.
pub fn config_hash(service: &Service) -> String {
    let mut service = service.clone();
    service.scale = None;
    service.profiles.clear();
    if let Some(deploy) = &mut service.deploy {
        deploy.replicas = None;
        deploy.placement = None;
        deploy.update_config = None;
        deploy.rollback_config = None;
        deploy.mode = None;
    }
    // Fix: a `deploy:` left empty by the clearing above serialized as `"deploy": {}`, so
    // adding `deploy.replicas` (or a placement) to a service without `deploy:` changed the
    // hash and recreated every replica.
    if service.deploy.as_ref() == Some(&crate::compose::Deploy::default()) {
        service.deploy = None;
    }
    // Fix: `depends_on` orders starts but does not change the container (compose leaves it
    // out of its service hash too); adding a dependency recreated the dependent service.
    service.depends_on.clear();
    service.extensions.remove("x-nap");
    let value = serde_json::to_value(&service).unwrap_or(serde_json::Value::Null);
    let mut canonical = String::new();
    write_canonical_json(&value, &mut canonical);
    // The context's content hash is not a compose key (it is not serialized), yet a changed
    // context means a new image: it recreates the containers.
    if let Some(hash) = service.build.as_ref().and_then(|b| b.context_hash.as_ref()) {
        canonical.push_str("\0build-context:");
        canonical.push_str(hash);
    }
    let digest = Sha256::digest(canonical.as_bytes());
    digest
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

fn write_canonical_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*key).clone()).to_string());
                out.push(':');
                write_canonical_json(&map[*key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
