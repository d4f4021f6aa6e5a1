"""The lifecycle transitions every seg_perception node shares.

Subclasses configure and activate themselves and say how to stop their inputs
(``_stop_inputs``: subscriptions, timers, worker threads) and release what
``on_configure`` made (``_release``: publishers, models, resolvers); the
deactivate / cleanup / shutdown transitions are the same for all of them.
``_state_note`` is the word the node's diagnostics report.
"""
from __future__ import annotations

from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn

__all__ = ["ManagedNode"]


class ManagedNode(LifecycleNode):
    """A lifecycle node with the shared deactivate / cleanup / shutdown transitions."""

    _state_note = "unconfigured"

    def _stop_inputs(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._state_note = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._release()
        self._state_note = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._release()
        return TransitionCallbackReturn.SUCCESS
