//! Certificate codes and access keys (placeholder until issue 4 lands).
