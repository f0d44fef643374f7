//! The Docker client's trust and bounds, with the real `nap` binary against listeners in the
//! test on 127.0.0.1 (no lab needed): with `DOCKER_HOST=tcp://…` and `DOCKER_TLS_VERIFY=1`
//! nap's first bytes are a TLS ClientHello, never plaintext HTTP; and a fake daemon streaming
//! an endless `/containers/json` answer makes `nap ps` fail with nap's bound, not run out of
//! memory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn nap(dir: &Path, env: &[(&str, String)]) -> Output {
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    image: nap/busybox:lab\n",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_nap"));
    command
        .args(["-f", "compose.yaml", "-p", "dockertrust", "ps"])
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("NAP_HOSTS")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_CONFIG")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_TLS");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run nap")
}

/// A self-signed certificate as ca.pem, cert.pem and key.pem in `dir`.
fn write_tls_files(dir: &Path) {
    let output = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=nap test",
        ])
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(output.status.success(), "{}", text(&output.stderr));
    std::fs::copy(dir.join("cert.pem"), dir.join("ca.pem")).unwrap();
}

#[test]
fn tls_verify_with_tcp_docker_host_never_speaks_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    write_tls_files(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let first_bytes = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buffer = [0u8; 16];
        let n = stream.read(&mut buffer).unwrap_or(0);
        buffer[..n].to_vec()
    });
    let output = nap(
        dir.path(),
        &[
            ("DOCKER_HOST", format!("tcp://127.0.0.1:{port}")),
            ("DOCKER_TLS_VERIFY", "1".to_string()),
            ("DOCKER_CERT_PATH", dir.path().display().to_string()),
        ],
    );
    let first_bytes = first_bytes.join().unwrap();
    assert!(!output.status.success(), "{}", text(&output.stdout));
    assert_eq!(
        first_bytes.first(),
        Some(&0x16),
        "the listener got {:?}, not a TLS ClientHello",
        text(&first_bytes)
    );
    assert!(!text(&first_bytes).contains("HTTP"), "{first_bytes:?}");
}

#[test]
fn tls_without_verify_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = nap(
        dir.path(),
        &[
            ("DOCKER_HOST", "tcp://127.0.0.1:9".to_string()),
            ("DOCKER_TLS", "1".to_string()),
        ],
    );
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("DOCKER_TLS_VERIFY"),
        "{}",
        text(&output.stderr)
    );
}

/// Answers `/version` like Debian's engine and `/containers/json` with an endless listing
/// (capped at 512 MiB so a failing test ends).
fn fake_daemon(listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        std::thread::spawn(move || serve(&mut stream));
    }
}

fn serve(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = text(&head);
    if head.contains("/containers/json") {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[",
        );
        let item =
            br#"{"Id":"0123456789abcdef","Names":["/x"],"Labels":{"nap.project":"dockertrust"}},"#;
        let chunk: Vec<u8> = item
            .iter()
            .copied()
            .cycle()
            .take(item.len() * 8192)
            .collect();
        let mut sent = 0usize;
        while sent < 512 * 1024 * 1024 {
            if stream.write_all(&chunk).is_err() {
                return;
            }
            sent += chunk.len();
        }
        return;
    }
    let body = if head.contains("/version") {
        r#"{"ApiVersion":"1.41","MinAPIVersion":"1.12","Version":"20.10.24"}"#
    } else {
        r#"[]"#
    };
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn an_endless_container_listing_fails_with_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || fake_daemon(listener));
    let output = nap(
        dir.path(),
        &[("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))],
    );
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{}", text(&output.stdout));
    assert!(stderr.contains("64 MiB"), "{stderr}");
    assert!(stderr.contains("/containers/json"), "{stderr}");
    assert!(
        stderr.contains("local"),
        "the error names the host: {stderr}"
    );
}
