//! Property tests: random request bytes, and random operations against
//! the reference model with the invariants audited after every step.
//!
//! The two model tests take about 1.1e5 steps together (256 runs of up to
//! 400 and 400 runs of up to 300): about 6 s of host test time.

use super::model::{op, op_big};
use super::server;
use super::world::World;
use proptest::prelude::*;
use zpager_ipc::protocol::{MemError, Request, Response};

proptest! {
    #[test]
    fn any_request_bytes_get_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut s = server();
        s.create_space(1).unwrap();
        let mut out = [0u8; 256];
        let n = s.request_bytes(1, &bytes, &mut out);
        let response: Response = postcard::from_bytes(&out[..n]).unwrap();
        // Exactly one request and nothing after it, or Malformed.
        let whole = matches!(postcard::take_from_bytes::<Request>(&bytes), Ok((_, [])));
        if !whole {
            prop_assert_eq!(response, Response::Error(MemError::Malformed));
        }
        // Requests for a space that does not exist are refused too.
        let n = s.request_bytes(7, &bytes, &mut out);
        let response: Response = postcard::from_bytes(&out[..n]).unwrap();
        prop_assert!(matches!(response, Response::Error(_)));
    }

    #[test]
    fn a_request_with_trailing_bytes_is_malformed(tail in proptest::collection::vec(any::<u8>(), 1..16)) {
        let mut s = server();
        s.create_space(1).unwrap();
        let mut buf = [0u8; 64];
        let n = postcard::to_slice(&Request::Stats, &mut buf).unwrap().len();
        let mut bytes = buf[..n].to_vec();
        bytes.extend_from_slice(&tail);
        let mut out = [0u8; 256];
        let n = s.request_bytes(1, &bytes, &mut out);
        let response: Response = postcard::from_bytes(&out[..n]).unwrap();
        prop_assert_eq!(response, Response::Error(MemError::Malformed));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Small ranges in a small pool: frames and tables are reused often.
    #[test]
    fn memory_matches_the_model(ops in proptest::collection::vec(op(), 1..400)) {
        let mut w = World::new(super::FRAMES, false, [u64::MAX; 3]);
        for op in ops {
            w.step(op)?;
        }
        w.finish()?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Bigger ranges, a program in every space and frame limits.
    #[test]
    fn programs_maps_protects_and_frame_limits_match_the_model(
        limits in proptest::collection::vec(prop_oneof![16u64..64, Just(u64::MAX)], 3),
        ops in proptest::collection::vec(op_big(), 1..300),
    ) {
        let mut w = World::new(4096, true, [limits[0], limits[1], limits[2]]);
        for op in ops {
            w.step(op)?;
        }
        w.finish()?;
    }
}
