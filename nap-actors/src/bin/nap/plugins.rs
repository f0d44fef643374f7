//! `nap plugins`: loads the plugins named by `--plugin` and the inventory, as `up` would, and
//! lists each one's name, version, hooks and file. A plugin that cannot be loaded is an error
//! naming its file.

use std::process::ExitCode;

use clap::Args;
use nap_actors::deployment;

use crate::{Format, GlobalArgs, print_warnings};

/// Flags of `nap plugins`.
#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Runs `nap plugins`.
pub fn run(global: &GlobalArgs, args: &PluginsArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let mut warnings = Vec::new();
    let inventory =
        deployment::load_inventory(&options, &options.compose.working_dir, &mut warnings)?;
    print_warnings(&warnings);
    let plugins = global.load_plugins(&inventory)?.describe();
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&plugins)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(&plugins)?),
        Format::Text => {
            if plugins.is_empty() {
                println!("no plugins (add --plugin FILE or plugins: to the inventory)");
            }
            for plugin in &plugins {
                println!(
                    "{} {}  hooks: {}{}  ({})",
                    plugin.name,
                    plugin.version,
                    plugin.hooks.join(", "),
                    if plugin.optional { "  optional" } else { "" },
                    plugin.path.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
