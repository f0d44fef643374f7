//! Docker create bodies from the compose model (placeholder; being written).
