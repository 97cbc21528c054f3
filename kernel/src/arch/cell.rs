//! [`KernelCell`]: kernel state owned by whichever interruption handler
//! is running.

/// Kernel state that only interruption handlers and boot touch.
///
/// The kernel runs on one CPU with every interruption masked while it
/// handles one, and handlers never nest into this state, so a lock would
/// only cost instructions on every trap. [`KernelCell::get`] checks the
/// no-nesting rule instead.
pub struct KernelCell<T> {
    value: core::cell::UnsafeCell<T>,
    in_use: core::sync::atomic::AtomicBool,
}

// SAFETY: access is serialised by the rule above (one CPU, masked
// interruptions, no nesting), which `get` enforces at run time.
unsafe impl<T> Sync for KernelCell<T> {}

/// Exclusive access to a [`KernelCell`]'s value, released on drop.
pub struct KernelRef<'a, T> {
    cell: &'a KernelCell<T>,
}

impl<T> KernelCell<T> {
    pub const fn new(value: T) -> Self {
        KernelCell {
            value: core::cell::UnsafeCell::new(value),
            in_use: core::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Borrows the value; panics if it is already borrowed (a nested
    /// handler would be a kernel bug).
    #[inline]
    pub fn get(&self) -> KernelRef<'_, T> {
        use core::sync::atomic::Ordering;
        assert!(
            !self.in_use.load(Ordering::Relaxed),
            "kernel state borrowed twice"
        );
        self.in_use.store(true, Ordering::Relaxed);
        KernelRef { cell: self }
    }
}

impl<T> core::ops::Deref for KernelRef<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: `get` handed out this borrow exclusively.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T> core::ops::DerefMut for KernelRef<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: `get` handed out this borrow exclusively.
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T> Drop for KernelRef<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.cell
            .in_use
            .store(false, core::sync::atomic::Ordering::Relaxed);
    }
}
