//! The one bounded reader for every file and standard input the product reads
//! (password files, caches, account lists, configurations, scenario files and their
//! fixtures, `hash` input): a byte limit per kind of input, named in the error, so
//! that `/dev/zero`, a FIFO that never ends or a huge `/proc` file cannot exhaust
//! memory or hang a run.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// A kind of input and its limit in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// What the input is, for messages: "password file", "cache", ….
    pub what: &'static str,
    pub bytes: u64,
}

/// `--password-file`: one line is all that is used.
pub const PASSWORD_FILE: Limit = Limit {
    what: "password file",
    bytes: 64 * 1024,
};
/// `--cache`: one TSV line per message (a million messages fit).
pub const CACHE: Limit = Limit {
    what: "UIDL cache",
    bytes: 256 * 1024 * 1024,
};
/// `--accounts`: one line per account.
pub const ACCOUNTS: Limit = Limit {
    what: "account list",
    bytes: 64 * 1024 * 1024,
};
/// `--dovecot-conf`.
pub const CONFIG: Limit = Limit {
    what: "Dovecot configuration",
    bytes: 16 * 1024 * 1024,
};
/// A scenario file.
pub const SCENARIO: Limit = Limit {
    what: "scenario file",
    bytes: 16 * 1024 * 1024,
};
/// A message fixture of a scenario.
pub const FIXTURE: Limit = Limit {
    what: "message fixture",
    bytes: 64 * 1024 * 1024,
};
/// `uidlmap hash` input: one message.
pub const HASH_INPUT: Limit = Limit {
    what: "message to hash",
    bytes: 256 * 1024 * 1024,
};
/// One line of `uidlmap hash --hex-lines` (a hex-encoded header block).
pub const HEX_LINE: Limit = Limit {
    what: "hex line",
    bytes: 64 * 1024 * 1024,
};

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {name}: {source}")]
    Io { name: String, source: io::Error },
    #[error("{name} is larger than the {} limit of {} bytes", limit.what, limit.bytes)]
    TooLarge { name: String, limit: Limit },
}

impl InputError {
    /// The underlying I/O error kind, when there is one (`NotFound` for a missing file).
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            InputError::Io { source, .. } => Some(source.kind()),
            InputError::TooLarge { .. } => None,
        }
    }
}

/// A reader that fails with [`InputError::TooLarge`] (as an `io::Error` of kind
/// `InvalidData` wrapping it) once more than the limit has been read: for inputs read
/// as a stream (`hash`).
pub struct Bounded<R> {
    inner: R,
    name: String,
    limit: Limit,
    read: u64,
}

impl<R: Read> Bounded<R> {
    pub fn new(inner: R, name: impl Into<String>, limit: Limit) -> Self {
        Bounded {
            inner,
            name: name.into(),
            limit,
            read: 0,
        }
    }

    /// Bytes read so far.
    pub fn position(&self) -> u64 {
        self.read
    }

    /// Starts counting afresh (for a limit that applies per line).
    pub fn reset(&mut self) {
        self.read = 0;
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read > self.limit.bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                InputError::TooLarge {
                    name: self.name.clone(),
                    limit: self.limit,
                },
            ));
        }
        // One byte past the limit is allowed through so that an input of exactly the
        // limit passes and one byte more fails.
        let room = (self.limit.bytes + 1 - self.read).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        self.read += n as u64;
        if self.read > self.limit.bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                InputError::TooLarge {
                    name: self.name.clone(),
                    limit: self.limit,
                },
            ));
        }
        Ok(n)
    }
}

impl<R: io::BufRead> io::BufRead for Bounded<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.read > self.limit.bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                InputError::TooLarge {
                    name: self.name.clone(),
                    limit: self.limit,
                },
            ));
        }
        let room = (self.limit.bytes + 1 - self.read) as usize;
        let buf = self.inner.fill_buf()?;
        Ok(&buf[..buf.len().min(room)])
    }

    fn consume(&mut self, amt: usize) {
        self.read += amt as u64;
        self.inner.consume(amt);
    }
}

/// Turns an error from a [`Bounded`] reader back into the [`InputError`] it carries.
pub fn from_io(name: &str, e: io::Error) -> InputError {
    if let Some(InputError::TooLarge { name, limit }) =
        e.get_ref().and_then(|i| i.downcast_ref::<InputError>())
    {
        return InputError::TooLarge {
            name: name.clone(),
            limit: *limit,
        };
    }
    InputError::Io {
        name: name.to_string(),
        source: e,
    }
}

fn read_bounded(mut input: impl Read, name: &str, limit: Limit) -> Result<Vec<u8>, InputError> {
    let mut bytes = Vec::new();
    match (&mut input).take(limit.bytes + 1).read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > limit.bytes => Err(InputError::TooLarge {
            name: name.to_string(),
            limit,
        }),
        Ok(_) => Ok(bytes),
        Err(source) => Err(InputError::Io {
            name: name.to_string(),
            source,
        }),
    }
}

/// Reads a whole file, at most `limit` bytes (it fails beyond).
pub fn read_file(path: &Path, limit: Limit) -> Result<Vec<u8>, InputError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| InputError::Io {
        name: name.clone(),
        source,
    })?;
    read_bounded(file, &name, limit)
}

/// [`read_file`] as UTF-8 text.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, InputError> {
    let bytes = read_file(path, limit)?;
    String::from_utf8(bytes).map_err(|_| InputError::Io {
        name: path.display().to_string(),
        source: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

/// Reads all of standard input, at most `limit` bytes.
pub fn read_stdin(limit: Limit) -> Result<Vec<u8>, InputError> {
    read_bounded(io::stdin().lock(), "standard input", limit)
}

/// Why a path may not be read as a fixture.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("cannot resolve {path}: {source}")]
    Resolve { path: PathBuf, source: io::Error },
    #[error("{path} is outside {root} (after resolving `..` and symbolic links)")]
    Outside { path: PathBuf, root: PathBuf },
    #[error("{path} is not a regular file")]
    NotRegular { path: PathBuf },
}

/// `path` resolved (`..` and symbolic links), required to be a regular file inside
/// `root` (itself resolved): fixtures may not reach `/etc`, `/proc` or devices.
pub fn confined(path: &Path, root: &Path) -> Result<PathBuf, ConfineError> {
    let resolve = |p: &Path| {
        std::fs::canonicalize(p).map_err(|source| ConfineError::Resolve {
            path: p.to_path_buf(),
            source,
        })
    };
    let real = resolve(path)?;
    let root = resolve(if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    })?;
    if !real.starts_with(&root) {
        return Err(ConfineError::Outside {
            path: path.to_path_buf(),
            root,
        });
    }
    let meta = std::fs::metadata(&real).map_err(|source| ConfineError::Resolve {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(ConfineError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    const TEN: Limit = Limit {
        what: "test input",
        bytes: 10,
    };

    #[test]
    fn limit_is_exact_and_named() {
        assert_eq!(read_bounded(&[b'a'; 10][..], "x", TEN).unwrap().len(), 10);
        let e = read_bounded(&[b'a'; 11][..], "x", TEN).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x is larger than the test input limit of 10 bytes"
        );
        let e = read_file(Path::new("/dev/zero"), TEN).unwrap_err();
        assert!(matches!(e, InputError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn bounded_stream_stops() {
        let mut r = Bounded::new(io::repeat(b'z'), "zeros", TEN);
        let mut sink = Vec::new();
        let e = r.read_to_end(&mut sink).unwrap_err();
        assert!(sink.len() <= 11);
        assert_eq!(
            from_io("zeros", e).to_string(),
            "zeros is larger than the test input limit of 10 bytes"
        );
        let mut r = Bounded::new(io::BufReader::new(io::repeat(b'z')), "zeros", TEN);
        let mut line = Vec::new();
        assert!(r.read_until(b'\n', &mut line).is_err());
        let mut r = Bounded::new(&b"ab\ncd\n"[..], "two", TEN);
        line.clear();
        r.read_until(b'\n', &mut line).unwrap();
        r.reset();
        assert_eq!((line.as_slice(), r.position()), (&b"ab\n"[..], 0));
    }

    #[test]
    fn confinement() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a/m.eml"), "x").unwrap();
        std::fs::write(dir.path().join("outside.eml"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.eml"), root.join("link.eml")).unwrap();
        assert!(confined(&root.join("a/../a/m.eml"), &root).is_ok());
        for bad in ["a/../../outside.eml", "link.eml"] {
            let e = confined(&root.join(bad), &root).unwrap_err();
            assert!(matches!(e, ConfineError::Outside { .. }), "{bad}: {e}");
        }
        assert!(matches!(
            confined(&root.join("a"), &root).unwrap_err(),
            ConfineError::NotRegular { .. }
        ));
    }
}
