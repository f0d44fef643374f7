//! Prints the loaded compose project as JSON, like `nap config --format json`.
//!
//! A stand-in for the `nap` binary's `config` command, for poking at the loader by hand:
//!
//! ```sh
//! cargo run -q -p nap-core --example print_config -- \
//!     [--project-directory DIR] [-f FILE]... [-p NAME] [--env-file F]... [--profile P]... \
//!     [config [--format json|yaml]]
//! ```
//!
//! Warnings go to stderr; a file that does not load prints its error (`FILE:LINE: key: message`)
//! on stderr and exits with status 1. The process environment is the one compose sees.

use std::path::PathBuf;
use std::process::ExitCode;

use nap_core::compose::{LoadOptions, load};

fn main() -> ExitCode {
    let mut options = LoadOptions {
        working_dir: std::env::current_dir().unwrap_or_default(),
        environment: std::env::vars().collect(),
        ..LoadOptions::default()
    };
    let mut yaml = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("{name} needs a value");
                std::process::exit(2)
            })
        };
        match arg.as_str() {
            "-f" | "--file" => options.files.push(PathBuf::from(value(&arg))),
            "-p" | "--project-name" => options.project_name = Some(value(&arg)),
            "--project-directory" => options.project_directory = Some(PathBuf::from(value(&arg))),
            "--env-file" => options.env_files.push(PathBuf::from(value(&arg))),
            "--profile" => options.profiles.push(value(&arg)),
            "--format" => yaml = value(&arg) == "yaml",
            "config" => {}
            other => {
                eprintln!("unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    match load(&options) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            let text = if yaml {
                serde_yaml::to_string(&loaded.project).map_err(|e| e.to_string())
            } else {
                serde_json::to_string_pretty(&loaded.project).map_err(|e| e.to_string())
            };
            match text {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("cannot serialize the project: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
