//! Attribution of writes: who the records of one operation are written for
//! (`ledger/FORMAT.md` §3.5, version 6; docs/design.md "Who did it").
//!
//! Owns: [`OperatorScope`], the only way the registry's callers (the admin
//! API, the control socket, the CLI, the desk) attribute writes. An
//! operator is set for the span of one operation and restored afterwards,
//! also when the operation fails or panics, so that a write of the intake or
//! the scheduler, which takes the same registry lock later, is never
//! attributed to the last person who wrote.
//! Must not do: know who an id belongs to, or choose an id itself.

use super::Registry;
pub use crate::ledger::operator::{OperatorId, OperatorIdError, API_OPERATOR};

/// A registry whose appends are attributed to one operator until the scope
/// ends (it dereferences to the [`Registry`]). Obtained from
/// [`Registry::as_operator`]; dropping it restores the attribution that was
/// set before.
pub struct OperatorScope<'a> {
    /// The registry, attributed while the scope lives.
    registry: &'a mut Registry,
    /// The attribution to restore when the scope ends.
    previous: Option<OperatorId>,
}

impl std::ops::Deref for OperatorScope<'_> {
    type Target = Registry;
    fn deref(&self) -> &Registry {
        self.registry
    }
}

impl std::ops::DerefMut for OperatorScope<'_> {
    fn deref_mut(&mut self) -> &mut Registry {
        self.registry
    }
}

impl Drop for OperatorScope<'_> {
    fn drop(&mut self) {
        self.registry.ledger.set_operator(self.previous.take());
    }
}

impl Registry {
    /// Attributes every record appended through the returned scope to
    /// `operator` (`None`: unattributed, FORMAT.md version-1 records).
    pub fn as_operator(&mut self, operator: Option<OperatorId>) -> OperatorScope<'_> {
        let previous = self.ledger.set_operator(operator);
        OperatorScope {
            registry: self,
            previous,
        }
    }

    /// Runs `f` with every record it appends attributed to `operator`,
    /// then restores the previous attribution (also on error or panic).
    pub fn with_operator<T>(
        &mut self,
        operator: Option<OperatorId>,
        f: impl FnOnce(&mut Registry) -> T,
    ) -> T {
        let mut scope = self.as_operator(operator);
        f(&mut scope)
    }

    /// Sets the attribution of every record appended from now on and
    /// returns the previous one. The caller must restore it before it
    /// releases the registry lock (prefer [`Registry::with_operator`] or
    /// [`Registry::as_operator`], which do): otherwise the intake's or the
    /// scheduler's next record would carry this id.
    pub fn set_operator(&mut self, operator: Option<OperatorId>) -> Option<OperatorId> {
        self.ledger.set_operator(operator)
    }

    /// Who the records appended now are attributed to.
    pub fn operator(&self) -> Option<&OperatorId> {
        self.ledger.operator()
    }
}
