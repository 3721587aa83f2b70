//! Cover sheets (placeholder until issue 4 lands).
