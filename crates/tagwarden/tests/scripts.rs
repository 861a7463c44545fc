//! The README's first two commands on a fresh machine: `scripts/demo.sh` and
//! `scripts/test.sh` install what they need, and `.ci/run` runs that same test script.
//!
//! Nothing is installed or removed here: `id`, `dpkg-query`, `apt-get` and `cargo` are
//! stand-ins on `PATH` that log their arguments, so each branch (root or not, installed or
//! not) runs the real scripts without touching the machine; `kubectl` is a stand-in that
//! says its version (1.33 unless a test says otherwise).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::Run;

/// A folder of stand-in commands and their log.
struct FakeMachine {
    dir: tempfile::TempDir,
}

impl FakeMachine {
    /// A machine where the user id is `uid` and the Debian packages in `installed` are
    /// installed. `apt-get install` "installs" its arguments; `cargo` only logs.
    fn new(uid: u32, installed: &[&str]) -> FakeMachine {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let state = dir.path().join("installed");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        for package in installed {
            std::fs::write(state.join(package), "").unwrap();
        }
        let log = dir.path().join("log");
        let state = state.display();
        let log = log.display();
        let script = |name: &str, body: &str| {
            let path = bin.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        script("id", &format!("[ \"$1\" = -u ] && echo {uid}"));
        script(
            "dpkg-query",
            &format!(
                "for last; do :; done\n[ -e \"{state}/$last\" ] && printf 'ii ' && exit 0\nexit 1"
            ),
        );
        script(
            "apt-get",
            &format!(
                "echo \"apt-get $*\" >> \"{log}\"\nfor a; do case \"$a\" in -*|install|update) ;; *) touch \"{state}/$a\" ;; esac; done"
            ),
        );
        script("cargo", &format!("echo \"cargo $*\" >> \"{log}\""));
        script("kubectl", &kubectl_version_script("v1.33.9"));
        // python3: `-c "import MODULE"` succeeds once MODULE is "installed" (a file in the
        // state folder, like the packages); pip is there and logs what it installs, which
        // "installs" the module of the requirement (helm_python, pre_commit); a script of
        // the repository (`python3 scripts/….py`) only logs.
        script(
            "python3",
            &format!(
                "case \"$1\" in\n-c) case \"$2\" in 'import '*) [ -e \"{state}/${{2#import }}\" ] && exit 0 ;; esac; exit 1 ;;\n-m) [ \"$3\" = install ] && echo \"python3 $*\" >> \"{log}\" && case \"$*\" in *helm-python-sdk*) touch \"{state}/helm_python\" ;; *pre-commit*) touch \"{state}/pre_commit\" ;; esac; exit 0 ;;\n*.py) echo \"python3 $*\" >> \"{log}\"; exit 0 ;;\nesac\nexit 1"
            ),
        );
        FakeMachine { dir }
    }

    /// The `kubectl` stand-in says it is `git_version` (`v1.20.15`: Debian's).
    fn set_kubectl_version(&self, git_version: &str) {
        let path = self.dir.path().join("bin").join("kubectl");
        let body = kubectl_version_script(git_version);
        std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    }

    fn path_var(&self) -> String {
        format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display())
    }

    /// Every stand-in call, one line each.
    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Runs a script of the repository on this machine.
    fn run(&self, script: &str, envs: &[(&str, &str)]) -> Run {
        // As CI runs it (`bash .ci/run`); the scripts' own `#!` lines say bash too.
        let mut command = Command::new("/bin/bash");
        command
            .arg(repo_root().join(script))
            .env_clear()
            .env("PATH", self.path_var())
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path());
        for (key, value) in envs {
            command.env(key, value);
        }
        let output = command.output().expect("run the script");
        Run {
            code: output.status.code().expect("killed by a signal"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The body of a `kubectl` whose `version --client -o json` says `git_version`, as
/// kubectl prints it.
fn kubectl_version_script(git_version: &str) -> String {
    format!(
        "[ \"$1\" = version ] || exit 1\nprintf '{{\\n  \"clientVersion\": {{\\n    \"gitVersion\": \"{git_version}\"\\n  }}\\n}}\\n'"
    )
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const TEST_PACKAGES: &str = "docker-registry skopeo apache2-utils jq curl openssl python3 python3-jsonschema prometheus redis-server";

/// The PyPI package the chart tests need, as scripts/test.sh installs it.
const PIP_INSTALL: &str =
    "python3 -m pip install --quiet --disable-pip-version-check helm-python-sdk==0.2.2";

/// The PyPI package the pre-commit hook's test runs, as scripts/test.sh installs it.
const PIP_INSTALL_PRE_COMMIT: &str =
    "python3 -m pip install --quiet --disable-pip-version-check pre-commit==4.7.0";

/// No binaries built: the demo stops there, after its set-up (exit 2, naming the build).
const NOT_BUILT: [(&str, &str); 1] = [("TAGWARDEN", "/nonexistent/tagwarden")];

#[test]
fn demo_as_root_installs_the_missing_registry_then_goes_on() {
    let machine = FakeMachine::new(0, &[]);
    let run = machine.run("scripts/demo.sh", &NOT_BUILT);
    assert_eq!(
        machine.log(),
        [
            "apt-get update -qq",
            "apt-get install -y -qq docker-registry"
        ],
        "{run:?}"
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("/nonexistent/tagwarden is missing; run: cargo build --release --locked"),
        "the demo went on past its set-up: {run:?}"
    );
}

#[test]
fn demo_not_as_root_prints_the_install_command_and_exits_2() {
    let machine = FakeMachine::new(1000, &[]);
    let run = machine.run("scripts/demo.sh", &NOT_BUILT);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        machine.log().is_empty(),
        "nothing is installed: {:?}",
        machine.log()
    );
    assert!(
        run.stderr
            .contains("sudo apt-get update && sudo apt-get install -y docker-registry"),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains("cargo build"),
        "it stops at the set-up: {run:?}"
    );
}

#[test]
fn demo_with_the_registry_installed_asks_apt_nothing() {
    let machine = FakeMachine::new(1000, &["docker-registry"]);
    let run = machine.run("scripts/demo.sh", &NOT_BUILT);
    assert!(machine.log().is_empty(), "{:?}", machine.log());
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("cargo build --release --locked"),
        "{run:?}"
    );
}

#[test]
fn test_script_installs_what_the_tests_need_then_runs_every_test() {
    let machine = FakeMachine::new(0, &["jq", "curl"]);
    let run = machine.run("scripts/test.sh", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let missing: Vec<&str> = TEST_PACKAGES
        .split(' ')
        .filter(|p| !["jq", "curl"].contains(p))
        .collect();
    assert_eq!(
        machine.log(),
        [
            "apt-get update -qq".to_string(),
            format!("apt-get install -y -qq {}", missing.join(" ")),
            PIP_INSTALL.to_string(),
            PIP_INSTALL_PRE_COMMIT.to_string(),
            "cargo test --workspace --locked".to_string(),
        ],
        "{run:?}"
    );

    // Not root, something missing: the one command, exit 2, no tests run.
    let machine = FakeMachine::new(1000, &[]);
    let run = machine.run("scripts/test.sh", &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(machine.log().is_empty(), "{:?}", machine.log());
    assert!(
        run.stderr.contains(&format!(
            "sudo apt-get update && sudo apt-get install -y {TEST_PACKAGES}"
        )),
        "{run:?}"
    );

    // Not root, every package there but not the Helm library: the pip command, exit 2.
    let packages: Vec<&str> = TEST_PACKAGES.split(' ').collect();
    let machine = FakeMachine::new(1000, &packages);
    let run = machine.run("scripts/test.sh", &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(machine.log().is_empty(), "{:?}", machine.log());
    assert!(
        run.stderr.contains(
            "python3 -m pip install --quiet --disable-pip-version-check 'helm-python-sdk==0.2.2'"
        ),
        "{run:?}"
    );
}

#[test]
fn test_script_without_a_recent_kubectl_says_how_to_get_one_and_exits_2() {
    let mut installed: Vec<&str> = TEST_PACKAGES.split(' ').collect();
    installed.push("helm_python");
    installed.push("pre_commit");
    // Debian's kubernetes-client: too old.
    let machine = FakeMachine::new(1000, &installed);
    machine.set_kubectl_version("v1.20.15");
    let run = machine.run("scripts/test.sh", &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(machine.log().is_empty(), "no test ran: {:?}", machine.log());
    let kubectl = machine.dir.path().join("bin/kubectl");
    assert!(
        run.stderr.contains(&format!(
            "test: the tests need kubectl 1.27 or newer ({} is 1.20); get it with one of:",
            kubectl.display()
        )),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("sudo scripts/install-kubectl.sh"),
        "{run:?}"
    );
    // TAGWARDEN_KUBECTL is the one the tests run, so it is the one checked.
    let machine = FakeMachine::new(1000, &installed);
    let run = machine.run(
        "scripts/test.sh",
        &[("TAGWARDEN_KUBECTL", "/nonexistent/kubectl")],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("(/nonexistent/kubectl does not say its version)"),
        "{run:?}"
    );
    // 1.27 will do.
    machine.set_kubectl_version("v1.27.1");
    let run = machine.run("scripts/test.sh", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        machine.log(),
        ["cargo test --workspace --locked"],
        "{run:?}"
    );
}

#[test]
fn ci_runs_fmt_clippy_and_the_test_script() {
    let mut installed: Vec<&str> = TEST_PACKAGES.split(' ').collect();
    installed.push("helm_python");
    installed.push("pre_commit");
    let machine = FakeMachine::new(0, &installed);
    let run = machine.run(".ci/run", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        machine.log(),
        [
            "cargo --version",
            "cargo fmt --all -- --check",
            "cargo clippy --workspace --all-targets --locked -- -D warnings",
            "python3 scripts/unused-deps.py",
            "python3 scripts/function-lengths.py",
            "cargo doc --workspace --no-deps --document-private-items --locked",
            "cargo test --workspace --locked",
        ],
        "{run:?}"
    );
}
