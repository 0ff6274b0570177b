//! CPU kernels shared by both model kinds: SIMD math (`math`, with the AVX2 and AVX-512 variants
//! in `simd`) and the fused GRU recurrences with hand-written backward passes (`recurrence`),
//! which training runs as candle custom ops.

pub mod math;
pub mod recurrence;
pub mod simd;
