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

mod common;

use common::nap_command;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn nap(dir: &Path, env: &[(&str, String)]) -> Output {
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    image: nap/busybox:lab\n",
    )
    .unwrap();
    let mut command = nap_command(dir);
    command
        .args(["-f", "compose.yaml", "-p", "dockertrust", "ps"])
        .env("HOME", dir)
        .env_remove("DOCKER_CONFIG");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run nap")
}

/// A self-signed certificate as ca.pem, cert.pem and key.pem in `dir`.
fn write_tls_files(dir: &Path) {
    openssl(
        dir,
        &[
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
        ],
    );
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

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// CA `NAME.pem`/`NAME.key`, and a server certificate `NAME-server.pem` for 127.0.0.1 it signed.
fn make_ca_and_server(dir: &Path, name: &str) {
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "1",
            "-subj",
            &format!("/CN=nap test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    let (server_key, server_csr, server_pem) = (
        format!("{name}-server.key"),
        format!("{name}-server.csr"),
        format!("{name}-server.pem"),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &server_key,
            "-out",
            &server_csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &server_csr,
            "-CA",
            &pem,
            "-CAkey",
            &key,
            "-CAcreateserial",
            "-out",
            &server_pem,
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
}

/// A TLS server on 127.0.0.1 presenting `NAME-server.pem`, answering `/version` (client
/// certificates are not checked: the test is about nap's trust in the server).
async fn tls_daemon(dir: &Path, name: &str) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join(format!("{name}-server.pem")))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}-server.key"))).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(stream).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let body = r#"{"ApiVersion":"1.41","MinAPIVersion":"1.12","Version":"20.10.24"}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn tls_trusts_only_the_inventory_ca() {
    let dir = tempfile::tempdir().unwrap();
    make_ca_and_server(dir.path(), "mine");
    make_ca_and_server(dir.path(), "other");
    let files = |ca: &str| nap_core::inventory::TlsFiles {
        ca: dir.path().join(format!("{ca}.pem")),
        cert: dir.path().join("mine-server.pem"),
        key: dir.path().join("mine-server.key"),
    };
    let other_port = tls_daemon(dir.path(), "other").await;
    let endpoint = nap_core::inventory::DockerEndpoint::Https {
        host: "127.0.0.1".to_string(),
        port: other_port,
    };
    let error = nap_actors::docker::connect_endpoint("tlstest", &endpoint, Some(&files("mine")))
        .await
        .expect_err("a daemon certificate from another CA must be refused");
    let message = error.to_string();
    assert!(
        message.contains("tlstest") && message.contains("certificate"),
        "{message}"
    );
    // The right CA works.
    nap_actors::docker::connect_endpoint("tlstest", &endpoint, Some(&files("other")))
        .await
        .expect("the daemon's own CA is trusted");
}
