//! SSH to hosts (placeholder; being written).
