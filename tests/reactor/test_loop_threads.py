"""``call_soon_threadsafe``: another thread wakes a loop blocked in
``select()`` with no timer, and its callback runs on the loop's thread."""

import threading

from reactor.loop import EventLoop


def test_a_thread_wakes_a_loop_that_waits_for_nothing():
    loop = EventLoop()
    loop.accept_threads()
    ran_on = []
    started = threading.Event()

    def from_thread():
        started.wait(5)
        loop.call_soon_threadsafe(lambda: (ran_on.append(threading.current_thread()),
                                           loop.stop()))

    worker = threading.Thread(target=from_thread)
    worker.start()
    loop.call_soon(started.set)
    watchdog = threading.Timer(5, loop.call_soon_threadsafe, (loop.stop,))
    watchdog.start()
    try:
        loop.run()           # blocks in select(None) until the thread's call
    finally:
        watchdog.cancel()
        worker.join()
        loop.close()
    assert ran_on == [threading.main_thread()]


def test_after_close_a_late_thread_call_is_dropped():
    loop = EventLoop()
    loop.accept_threads()
    loop.close()
    assert loop.call_soon_threadsafe(print) is None
