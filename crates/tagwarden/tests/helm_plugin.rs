//! `helm-plugin/post-render.sh`, the Helm 4 plugin's command, run as Helm runs it: the
//! manifests on stdin, `--post-renderer-args` as arguments, the real binary behind it.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::Run;

/// A manifest whose image does not track Kubernetes 1.32: nothing to ask a registry.
const MANIFEST: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: debug   # kept byte for byte
spec:
  containers:
    - name: shell
      image: 127.0.0.1:9/library/busybox:1.36
";

fn plugin(args: &[&str]) -> Run {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../helm-plugin/post-render.sh"
    );
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new("/bin/sh")
        .arg(script)
        .args(args)
        .env("TAGWARDEN_BIN", env!("CARGO_BIN_EXE_tagwarden"))
        .env("HOME", home.path())
        .env_remove("TAGWARDEN_POST_RENDER_LOG")
        .env_remove("TAGWARDEN_CONFIG")
        .env_remove("TAGWARDEN_KUBE_VERSION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run post-render.sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(MANIFEST.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().expect("killed by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn helm_4_arguments_pass_through() {
    let run = plugin(&["--kube-version=1.32"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, MANIFEST);
}

#[test]
fn helm_3_arguments_with_a_leading_post_render_work_too() {
    let run = plugin(&["post-render", "--kube-version=1.32"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, MANIFEST);
    assert!(!run.stderr.contains("unexpected argument"), "{run:?}");
    // Only a leading one: elsewhere it is still an error of tagwarden's.
    let run = plugin(&["--kube-version=1.32", "post-render"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
}
