//! `build:` of one service: the short form (a context folder) and every long-form key Compose
//! accepts. Keys Docker's classic builder (no BuildKit) can honour are read into
//! [`Build`]; those that need BuildKit are refused naming file and line, and those that only
//! shape BuildKit's output are accepted with a warning that they are ignored. Relative
//! contexts become absolute against the file's folder; URLs are kept as written (they are
//! refused when nap builds, as nothing can be fetched).

use serde_yaml::Value;

use super::FileContext;
use super::read::*;
use super::service::parse_extra_hosts;
use crate::compose::LoadError;
use crate::compose::model::Build;

/// `build` keys nap passes to the classic builder.
const BUILD_KEYS: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "args",
    "target",
    "labels",
    "network",
    "extra_hosts",
    "shm_size",
    "no_cache",
    "pull",
    "tags",
    "cache_from",
];

/// `build` keys whose effect needs BuildKit: a build without them would not be the image the
/// file asks for, so they are refused.
const BUILDKIT_KEYS: &[&str] = &[
    "additional_contexts",
    "entitlements",
    "privileged",
    "secrets",
    "ssh",
];

/// `build` keys that only concern BuildKit's caches, attestations or platforms: ignored with
/// a warning (the image is built for the builder host's platform).
const IGNORED_KEYS: &[&str] = &[
    "cache_to",
    "isolation",
    "no_cache_filter",
    "platforms",
    "provenance",
    "sbom",
    "ulimits",
];

/// Whether a context is a URL (a Git repository or a remote tarball) rather than a folder.
pub fn is_remote_context(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

pub(super) fn parse_build(
    ctx: &mut FileContext,
    path: &str,
    value: &Value,
) -> Result<Build, LoadError> {
    let resolve_context = |ctx: &FileContext, context: String| {
        if is_remote_context(&context) {
            context
        } else {
            ctx.resolve_path(&context)
        }
    };
    let Value::Mapping(_) = value else {
        return Ok(Build {
            context: Some(resolve_context(ctx, string(ctx, path, value)?)),
            ..Build::default()
        });
    };
    let mut build = Build::default();
    for (key, value) in mapping_entries(ctx, path, value)? {
        let key_path = format!("{path}.{key}");
        let key_path = key_path.as_str();
        match key.as_str() {
            "context" => {
                build.context = optional_string(ctx, key_path, value)?
                    .map(|context| resolve_context(ctx, context))
            }
            "dockerfile" => build.dockerfile = optional_string(ctx, key_path, value)?,
            "dockerfile_inline" => build.dockerfile_inline = optional_string(ctx, key_path, value)?,
            "args" => build.args = key_value_map(ctx, key_path, value)?,
            "target" => build.target = optional_string(ctx, key_path, value)?,
            "labels" => build.labels = label_map(ctx, key_path, value)?,
            "network" => build.network = optional_string(ctx, key_path, value)?,
            "extra_hosts" => build.extra_hosts = parse_extra_hosts(ctx, key_path, value)?,
            "shm_size" => build.shm_size = parse_bytes_text(ctx, key_path, value)?,
            "no_cache" => build.no_cache = Some(boolean(ctx, key_path, value)?),
            "pull" => build.pull = Some(boolean(ctx, key_path, value)?),
            "tags" => {
                build.tags = strict_string_list(ctx, key_path, value)?;
                for (index, tag) in build.tags.iter().enumerate() {
                    check_reference(tag)
                        .map_err(|reason| ctx.invalid(&format!("{key_path}[{index}]"), reason))?;
                }
            }
            "cache_from" => build.cache_from = strict_string_list(ctx, key_path, value)?,
            buildkit if BUILDKIT_KEYS.contains(&buildkit) => {
                return Err(ctx.invalid(
                    key_path,
                    format!(
                        "build.{buildkit} needs BuildKit; nap builds with Docker's classic builder, which cannot honour it"
                    ),
                ));
            }
            ignored if IGNORED_KEYS.contains(&ignored) => ctx.warn(
                key_path,
                format!(
                    "build.{ignored} is ignored: nap builds with Docker's classic builder (no BuildKit), for the builder host's platform"
                ),
            ),
            extension if extension.starts_with("x-") => {}
            unknown => {
                debug_assert!(!BUILD_KEYS.contains(&unknown));
                return Err(ctx.invalid(key_path, format!("unknown build key {unknown:?}")));
            }
        }
    }
    if build.dockerfile.is_some() && build.dockerfile_inline.is_some() {
        return Err(ctx.invalid(
            path,
            "dockerfile and dockerfile_inline are mutually exclusive",
        ));
    }
    Ok(build)
}

/// A Docker image reference nap can name an image by: no whitespace or control characters,
/// and a lowercase repository (the tag after the last `:` may have capitals).
pub fn check_reference(reference: &str) -> Result<(), String> {
    let name = match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => reference,
    };
    if reference.is_empty()
        || reference
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        || name.chars().any(|c| c.is_ascii_uppercase())
        || name.starts_with(['-', '.', '/'])
    {
        return Err(format!(
            "{reference:?} is not a valid image name (lowercase letters, digits, '.', '_', '-', '/' and a ':tag')"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_checked() {
        assert!(check_reference("demo-web").is_ok());
        assert!(check_reference("localhost:5000/team/web:V1").is_ok());
        assert!(check_reference("Demo-web").is_err());
        assert!(check_reference("web app").is_err());
        assert!(check_reference("").is_err());
    }

    #[test]
    fn remote_contexts_are_told_apart() {
        assert!(is_remote_context("https://github.com/docker/app.git#main"));
        assert!(is_remote_context("git@github.com:docker/app.git"));
        assert!(!is_remote_context("/work/app"));
    }
}
