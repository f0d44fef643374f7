//! nap actors
