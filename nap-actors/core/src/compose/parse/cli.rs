//! Compose short syntaxes given on nap's command line (`nap run -p 8080:80 -v data:/data`):
//! read with the compose file's own readers, so a flag means what the same text would mean
//! under a service's `ports:` or `volumes:`; errors name the flag and its value.

use std::path::Path;

use crate::compose::source::SourceMap;
use crate::compose::{LoadError, Port, VolumeMount};

use super::FileContext;
use super::ports::parse_short_port;
use super::volumes::parse_short_volume;

/// `-p`/`--publish` values (`[ip:][published:]target[/protocol]`, ranges expanded).
pub fn parse_cli_ports(values: &[String]) -> Result<Vec<Port>, LoadError> {
    let map = SourceMap::build(Path::new("the command line"), "");
    let mut warnings = Vec::new();
    let ctx = FileContext {
        map: &map,
        base_dir: Path::new("/"),
        home: None,
        warnings: &mut warnings,
    };
    let mut ports = Vec::new();
    for value in values {
        ports.extend(parse_short_port(
            &ctx,
            &format!("--publish {value}"),
            value,
        )?);
    }
    Ok(ports)
}

/// `-v`/`--volume` values (`[source:]target[:mode]`), a relative source resolved against
/// `base_dir` (the project folder), as in the compose file.
pub fn parse_cli_volumes(
    values: &[String],
    base_dir: &Path,
    home: Option<&str>,
) -> Result<Vec<VolumeMount>, LoadError> {
    let map = SourceMap::build(Path::new("the command line"), "");
    let mut warnings = Vec::new();
    let ctx = FileContext {
        map: &map,
        base_dir,
        home,
        warnings: &mut warnings,
    };
    values
        .iter()
        .map(|value| parse_short_volume(&ctx, &format!("--volume {value}"), value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_as_the_compose_file_reads_them() {
        let ports = parse_cli_ports(&["127.0.0.1:8080:80/udp".to_string()]).unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].target, 80);
        assert_eq!(ports[0].protocol, "udp");
        let volumes =
            parse_cli_volumes(&["./data:/srv:ro".to_string()], Path::new("/p"), None).unwrap();
        assert_eq!(volumes[0].kind, "bind");
        assert_eq!(volumes[0].source.as_deref(), Some("/p/data"));
        assert!(volumes[0].read_only);
        let error = parse_cli_volumes(&["data:relative".to_string()], Path::new("/p"), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("--volume data:relative"), "{error}");
    }
}
