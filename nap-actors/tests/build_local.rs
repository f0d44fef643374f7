//! A build against the machine's own Docker daemon (unix socket; nothing pulled: the image
//! is built `FROM scratch`): the context nap packs with `.dockerignore` honoured is what the
//! image holds, every tag of the request names the image (bollard's options carry one; the
//! rest go as repeated query parameters), the build arguments and labels arrive, and the
//! builder's output streams.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use nap_actors::build::{self, BuildFlags};
use nap_actors::docker::BollardDocker;
use nap_core::build::LABEL_BUILD_HASH;
use nap_core::compose::Build;

#[tokio::test]
async fn the_local_daemon_builds_what_nap_packs() {
    let daemon = nap_actors::docker::resolve_local_daemon(&|key| std::env::var(key).ok())
        .expect("the local daemon's endpoint");
    let docker = nap_actors::docker::connect_endpoint("local", &daemon.docker, daemon.tls.as_ref())
        .await
        .expect("the local Docker daemon answers (this test needs it)");
    let api = BollardDocker::shared(docker.clone());

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("Dockerfile"),
        "FROM scratch\nARG GREETING\nLABEL greeting=$GREETING\nCOPY . /ctx/\n",
    )
    .unwrap();
    std::fs::write(root.join(".dockerignore"), "secret*\n**/*.log\n!keep.log\n").unwrap();
    std::fs::create_dir(root.join("src")).unwrap();
    std::fs::write(root.join("src/app.txt"), "app\n").unwrap();
    std::fs::write(root.join("src/debug.log"), "noise\n").unwrap();
    std::fs::write(root.join("keep.log"), "kept\n").unwrap();
    std::fs::write(root.join("secret.key"), "hunter2\n").unwrap();
    let unique = format!("nap-build-local-{}", std::process::id());
    let compose_build = Build {
        context: Some(root.to_string_lossy().into_owned()),
        args: [("GREETING".to_string(), Some("hello".to_string()))].into(),
        labels: [("team".to_string(), "shop".to_string())].into(),
        tags: vec![format!("{unique}:extra")],
        ..Build::default()
    };
    let context = build::read_context("web", &compose_build, root).unwrap();
    let request = build::image_build(
        "web",
        &format!("{unique}:1"),
        &compose_build,
        &context.dockerfile,
        &context.hash,
        BuildFlags::default(),
    )
    .unwrap();
    let tar = context.tar("web").unwrap();
    let mut output = api.build_image(request, tar.into(), Duration::from_secs(120));
    let mut lines = Vec::new();
    while let Some(step) = output.next().await {
        let info = step.expect("the build succeeds");
        assert!(info.error_detail.is_none(), "{info:?}");
        lines.extend(info.stream);
    }
    assert!(
        lines.iter().any(|line| line.contains("COPY . /ctx/")),
        "{lines:?}"
    );

    let main = api.inspect_image(&format!("{unique}:1")).await.unwrap();
    let extra = api.inspect_image(&format!("{unique}:extra")).await.unwrap();
    assert_eq!(main.id, extra.id, "both tags name the image");
    let labels: HashMap<String, String> = main
        .config
        .and_then(|config| config.labels)
        .unwrap_or_default();
    assert_eq!(labels.get(LABEL_BUILD_HASH), Some(&context.hash));
    assert_eq!(labels.get("team").map(String::as_str), Some("shop"));
    assert_eq!(labels.get("greeting").map(String::as_str), Some("hello"));

    // What the image holds under /ctx: .dockerignore honoured.
    let body = bollard::models::ContainerCreateBody {
        image: Some(format!("{unique}:1")),
        cmd: Some(vec!["/none".to_string()]),
        ..Default::default()
    };
    let container = api.create_container(&unique, body).await.unwrap();
    let mut archive = Vec::new();
    let mut download = api.download_from_container(&container, "/ctx");
    while let Some(chunk) = download.next().await {
        archive.extend_from_slice(&chunk.unwrap());
    }
    let mut names: Vec<String> = tar::Archive::new(archive.as_slice())
        .entries()
        .unwrap()
        .map(|entry| {
            entry
                .unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| !name.ends_with('/'))
        .collect();
    names.sort();
    let _ = api.remove_container(&container, true).await;
    let _ = api.remove_image(&format!("{unique}:extra")).await;
    let _ = api.remove_image(&format!("{unique}:1")).await;
    assert_eq!(
        names,
        [
            "ctx/.dockerignore",
            "ctx/Dockerfile",
            "ctx/keep.log",
            "ctx/src/app.txt"
        ]
    );
}
