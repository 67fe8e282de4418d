//! `midictl import PATH... [--wait] [--json]`: start an import job and print its id; with `--wait`,
//! follow it to the end and exit 1 unless it finished `done`.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use midictl::protocol::{Request, Response};

use super::{request, started_job, unexpected, Ctx};
use crate::cli::{CliError, ImportArgs};

pub fn run(ctx: &mut Ctx, args: &ImportArgs) -> Result<()> {
    // Resolved before connecting: a bad argument is a usage error whether or not a daemon runs.
    let paths = args.paths.iter().map(|p| absolute(p)).collect::<Result<Vec<_>>>()?;
    let mut client = ctx.connect()?;
    let job = match request(&mut client, &Request::Import { paths })? {
        Response::Job { job } => job,
        other => return Err(unexpected("import", &other)),
    };
    started_job(ctx, &mut client, job, args.wait)
}

/// The daemon runs elsewhere (another working directory, maybe another user), so it only ever
/// sees absolute paths. `std::path::absolute` keeps the user's spelling, symlinks included, which
/// is what provenance paths should show; a path with `..` is canonicalized when it exists, because
/// `..` cannot be removed lexically without getting symlinks wrong.
fn absolute(path: &Path) -> Result<String> {
    let mut abs = std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))?;
    if abs.components().any(|c| c == Component::ParentDir) {
        if let Ok(canonical) = abs.canonicalize() {
            abs = canonical;
        }
    }
    into_string(abs)
}

fn into_string(path: PathBuf) -> Result<String> {
    path.into_os_string().into_string().map_err(|raw| {
        CliError::Usage(format!("{}: paths must be valid UTF-8 to be sent to the daemon", Path::new(&raw).display()))
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn relative_paths_become_absolute() {
        let cwd = std::env::current_dir().unwrap();
        let got = absolute(Path::new("some/file.zip")).unwrap();
        assert_eq!(Path::new(&got), cwd.join("some/file.zip"));
        assert_eq!(absolute(Path::new("/data/x.mid")).unwrap(), "/data/x.mid");
    }

    #[test]
    fn dot_components_disappear() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(Path::new(&absolute(Path::new("./a/./b")).unwrap()), cwd.join("a/b"));
    }

    #[test]
    fn existing_parent_dirs_are_resolved() {
        let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
        let got = absolute(Path::new("src/..")).unwrap();
        assert_eq!(Path::new(&got), cwd);
    }

    #[test]
    fn non_utf8_path_is_a_usage_error() {
        let err = absolute(Path::new(OsStr::from_bytes(b"/tmp/\xff.mid"))).unwrap_err();
        assert_eq!(crate::cli::exit_code(&err), crate::cli::EXIT_USAGE);
    }
}
