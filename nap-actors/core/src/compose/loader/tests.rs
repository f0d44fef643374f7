//! Unit tests of the loader's details; whole projects are tested in `tests/loader.rs`.

use super::*;

#[test]
fn build_args_without_a_value_come_from_the_environment() {
    let fs = MemoryFileSystem::default()
        .with(
            "/p/compose.yaml",
            "services:\n  app:\n    build:\n      context: .\n      args:\n        - FIXED=1\n        - PROXY_URL\n        - UNSET_ARG\n",
        )
        .with("/p/.env", "FROM_DOTENV=yes\n");
    let mut options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        environment: [("PROXY_URL".to_string(), "http://proxy:3128".to_string())].into(),
        ..LoadOptions::default()
    };
    let loaded = load_with(&options, &fs).unwrap();
    let args = &loaded.project.services["app"].build.as_ref().unwrap().args;
    assert_eq!(
        args,
        &BTreeMap::from([
            ("FIXED".to_string(), Some("1".to_string())),
            (
                "PROXY_URL".to_string(),
                Some("http://proxy:3128".to_string())
            ),
        ])
    );
    // `.env` counts as the environment too.
    options.environment.clear();
    let fs = fs.with(
        "/p/compose.yaml",
        "services:\n  app:\n    build:\n      context: .\n      args: [FROM_DOTENV]\n",
    );
    let loaded = load_with(&options, &fs).unwrap();
    let args = &loaded.project.services["app"].build.as_ref().unwrap().args;
    assert_eq!(args["FROM_DOTENV"].as_deref(), Some("yes"));
}
