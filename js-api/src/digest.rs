//! The digests Workers has beyond WebCrypto's: `crypto.DigestStream` (a digest computed as a
//! stream is written, never holding the data) and MD5 (which workerd's `subtle.digest` and
//! `DigestStream` accept for non-cryptographic uses). `03_workers.js` is the JavaScript side.
//!
//! A stream's hash state is a resource of the runtime, charged to the isolate's external memory
//! while it lives: a tenant that opens digests and never closes them runs into its memory limit.

use std::cell::RefCell;
use std::sync::Arc;

use deno_core::error::ResourceError;
use deno_core::{OpState, Resource, ResourceId, op2};
use sha2::Digest;

use crate::memory::ExternalMemory;

/// The algorithms, by the numbers `03_workers.js` passes for their normalized names.
enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
    Md5(md5::Md5),
}

impl Hasher {
    /// 0: SHA-1, 1: SHA-256, 2: SHA-384, 3: SHA-512, 4: MD5 (`DIGESTS` in `03_workers.js`).
    fn new(algorithm: u32) -> Option<Self> {
        Some(match algorithm {
            0 => Self::Sha1(sha1::Sha1::new()),
            1 => Self::Sha256(sha2::Sha256::new()),
            2 => Self::Sha384(sha2::Sha384::new()),
            3 => Self::Sha512(sha2::Sha512::new()),
            4 => Self::Md5(md5::Md5::new()),
            _ => return None,
        })
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
            Self::Md5(h) => h.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Sha384(h) => h.finalize().to_vec(),
            Self::Sha512(h) => h.finalize().to_vec(),
            Self::Md5(h) => h.finalize().to_vec(),
        }
    }
}

/// What one open digest costs the isolate: its hash state and the resource table's entry.
const DIGEST_CHARGE: usize = 512;

struct DigestResource {
    hasher: RefCell<Option<Hasher>>,
    memory: Arc<ExternalMemory>,
}

impl Resource for DigestResource {
    fn name(&self) -> std::borrow::Cow<'_, str> {
        "skiffDigest".into()
    }
}

impl Drop for DigestResource {
    fn drop(&mut self) {
        self.memory.sub(DIGEST_CHARGE);
    }
}

/// Opens a digest of `algorithm`; its resource id. The JavaScript side checked the number.
#[op2(fast)]
#[smi]
pub fn op_skiff_digest_open(state: &mut OpState, #[smi] algorithm: u32) -> ResourceId {
    let memory = crate::external_memory(state);
    memory.add(DIGEST_CHARGE);
    state.resource_table.add(DigestResource {
        hasher: RefCell::new(Hasher::new(algorithm)),
        memory,
    })
}

/// Adds `data` to digest `rid`.
#[op2]
pub fn op_skiff_digest_write(
    state: &mut OpState,
    #[smi] rid: ResourceId,
    #[anybuffer] data: &[u8],
) -> Result<(), ResourceError> {
    let digest = state.resource_table.get::<DigestResource>(rid)?;
    if let Some(hasher) = digest.hasher.borrow_mut().as_mut() {
        hasher.update(data);
    }
    Ok(())
}

/// Closes digest `rid` and returns its value.
#[op2]
#[buffer]
pub fn op_skiff_digest_close(
    state: &mut OpState,
    #[smi] rid: ResourceId,
) -> Result<Vec<u8>, ResourceError> {
    let digest = state.resource_table.take::<DigestResource>(rid)?;
    let hasher = digest.hasher.borrow_mut().take();
    Ok(hasher.map(Hasher::finish).unwrap_or_default())
}

/// Drops digest `rid` without a value (the stream was aborted).
#[op2(fast)]
pub fn op_skiff_digest_abort(state: &mut OpState, #[smi] rid: ResourceId) {
    drop(state.resource_table.take::<DigestResource>(rid));
}

/// The digest of `data` in one call (`subtle.digest("MD5", data)`).
#[op2]
#[buffer]
pub fn op_skiff_digest_once(#[smi] algorithm: u32, #[anybuffer] data: &[u8]) -> Vec<u8> {
    Hasher::new(algorithm)
        .map(|mut hasher| {
            hasher.update(data);
            hasher.finish()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn each_algorithm_digests_in_pieces_as_in_one() {
        let expected = [
            "a9993e364706816aba3e25717850c26c9cd0d89d",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "900150983cd24fb0d6963f7d28e17f72",
        ];
        for (algorithm, expected) in expected.iter().enumerate() {
            let algorithm = algorithm as u32;
            let mut pieces = Hasher::new(algorithm).expect("known");
            pieces.update(b"a");
            pieces.update(b"");
            pieces.update(b"bc");
            assert_eq!(hex(&pieces.finish()), *expected, "algorithm {algorithm}");
        }
        assert!(Hasher::new(5).is_none());
    }
}
