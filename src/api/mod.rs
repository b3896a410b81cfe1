//! What the token API needs beside the check itself: throttling failed attempts,
//! recording use without making the caller wait, and the keys that sign leak reports.

pub mod leak_keys;
pub mod recorder;
pub mod throttle;
