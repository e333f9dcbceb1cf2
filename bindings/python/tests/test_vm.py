"""firerun.Vm against real VMs booted from the test image cache ($FIRERUN_TEST_CACHE)."""

import os
import threading
import time
import unittest

import firerun

CACHE = os.environ.get("FIRERUN_TEST_CACHE")


def python_image():
    return firerun.find_image("python", CACHE)


def qemu_children():
    """PIDs of this process's live (non-zombie) QEMU children."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == me and "qemu" in comm and state != "Z":
            found.append(int(entry))
    return found


class RunningVmTest(unittest.TestCase):
    """Many checks against one VM: booting is the slow part."""

    @classmethod
    def setUpClass(cls):
        cls.vm = firerun.Vm(image=python_image(), memory_mib=512, boot_timeout=120)
        cls.vm.start()

    @classmethod
    def tearDownClass(cls):
        cls.vm.close()

    def test_info(self):
        info = self.vm.info
        self.assertEqual(self.vm.state, "running")
        self.assertEqual(info.backend, "qemu")
        self.assertIn(info.accelerator, ("kvm", "tcg"))
        self.assertGreater(info.vmm_pid, 0)
        self.assertGreater(info.boot_time, 0)
        self.assertIn("running", repr(self.vm))

    def test_exit_code_and_separate_streams(self):
        r = self.vm.exec(["python3", "-c", "import sys; print(6*7); print('oops', file=sys.stderr); sys.exit(3)"],
                         timeout=30)
        self.assertEqual(r.exit_code, 3)
        self.assertIsNone(r.signal)
        self.assertEqual(r.stdout, b"42\n")
        self.assertEqual(r.stderr, b"oops\n")
        self.assertFalse(r.timed_out)
        self.assertFalse(r.truncated)
        self.assertFalse(r.ok)
        self.assertGreater(r.duration, 0)
        ok = self.vm.exec(["true"])
        self.assertEqual(ok.exit_code, 0)
        self.assertTrue(ok.ok)

    def test_signal(self):
        r = self.vm.exec(["sh", "-c", "kill -9 $$"], timeout=30)
        self.assertIsNone(r.exit_code)
        self.assertEqual(r.signal, 9)

    def test_stdin_env_cwd(self):
        r = self.vm.exec(["python3", "-c", "import os,sys; d=sys.stdin.buffer.read(); "
                          "print(len(d), d[:3], os.environ['GREETING'], os.getcwd())"],
                         stdin=b"\x00\xffabc" * 1000, env={"GREETING": "hello"}, cwd="/tmp", timeout=30)
        self.assertEqual(r.exit_code, 0, r.stderr)
        self.assertEqual(r.stdout, b"5000 b'\\x00\\xffa' hello /tmp\n")
        text = self.vm.exec(["cat"], stdin="h\u00e9llo", timeout=30)
        self.assertEqual(text.stdout, "h\u00e9llo".encode())

    def test_timeout(self):
        start = time.monotonic()
        r = self.vm.exec(["sleep", "30"], timeout=1)
        self.assertTrue(r.timed_out)
        self.assertLess(time.monotonic() - start, 15)

    def test_output_cap(self):
        r = self.vm.exec(["python3", "-c", "print('x' * 100000)"], output_cap=1000, timeout=30)
        self.assertTrue(r.stdout_truncated)
        self.assertTrue(r.truncated)
        self.assertLessEqual(len(r.stdout), 1000)

    def test_files(self):
        payload = bytes(range(256)) * 64
        self.vm.write_file("/tmp/py-binding-test", payload, mode=0o600)
        self.assertEqual(self.vm.read_file("/tmp/py-binding-test"), payload)
        r = self.vm.exec(["stat", "-c", "%a %s", "/tmp/py-binding-test"])
        self.assertEqual(r.stdout, b"600 16384\n")
        self.vm.write_file("/tmp/py-binding-text", "text too")
        self.assertEqual(self.vm.read_file("/tmp/py-binding-text"), b"text too")
        with self.assertRaises(firerun.Error):
            self.vm.read_file("/nonexistent/file")
        with self.assertRaises(firerun.Error):
            self.vm.read_file("/tmp/py-binding-test", max_bytes=10)

    def test_streaming_callbacks(self):
        chunks = {"out": [], "err": []}
        threads = set()

        def on_out(chunk):
            threads.add(threading.get_ident())
            chunks["out"].append(chunk)

        r = self.vm.exec(["sh", "-c", "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done"],
                         on_stdout=on_out, on_stderr=chunks["err"].append, timeout=30)
        self.assertEqual(r.exit_code, 0)
        self.assertEqual(b"".join(chunks["out"]), b"out1\nout2\nout3\n")
        self.assertEqual(b"".join(chunks["err"]), b"err1\nerr2\nerr3\n")
        self.assertEqual(r.stdout, b"out1\nout2\nout3\n")  # still collected
        self.assertNotIn(threading.get_ident(), threads)  # delivered on the runtime thread

    def test_raising_callback_is_reraised_after_exec(self):
        calls = []

        def bad(chunk):
            calls.append(chunk)
            raise KeyError("from callback")

        with self.assertRaisesRegex(KeyError, "from callback"):
            self.vm.exec(["sh", "-c", "echo a; sleep 0.2; echo b"], on_stdout=bad, timeout=30)
        self.assertEqual(len(calls), 1)  # not called again after raising
        self.assertEqual(self.vm.exec(["true"]).exit_code, 0)  # the VM is fine

    def test_blocking_call_inside_callback_is_refused(self):
        errors = []

        def reenter(chunk):
            try:
                self.vm.exec(["true"])
            except firerun.BadState as e:
                errors.append(e)

        r = self.vm.exec(["echo", "x"], on_stdout=reenter, timeout=30)
        self.assertEqual(r.exit_code, 0)
        self.assertEqual(len(errors), 1)
        self.assertIn("callback", str(errors[0]))

    def test_dropping_the_last_reference_to_a_vm_inside_a_callback(self):
        # Its teardown needs the runtime thread, which is busy running the callback.
        others = [firerun.Vm(image=python_image())]
        r = self.vm.exec(["echo", "x"], on_stdout=lambda chunk: others.clear(), timeout=30)
        self.assertEqual(r.exit_code, 0)
        self.assertEqual(others, [])

    def test_gil_released_while_exec_blocks(self):
        ticks = 0
        stop = threading.Event()

        def spin():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                time.sleep(0.01)

        t = threading.Thread(target=spin)
        t.start()
        try:
            r = self.vm.exec(["sleep", "2"], timeout=30)
        finally:
            stop.set()
            t.join()
        self.assertEqual(r.exit_code, 0)
        # About 200 ticks if the thread ran freely; a held GIL would allow ~0.
        self.assertGreater(ticks, 50)

    def test_vms_in_two_threads_run_concurrently(self):
        # One request per VM at a time (the agent refuses a second), so the
        # second thread drives a second VM.
        with firerun.Vm(image=python_image()) as other:
            single_start = time.monotonic()
            self.vm.exec(["sleep", "5"], timeout=30)
            single = time.monotonic() - single_start

            results = {}

            def worker(vm):
                results[vm.id] = vm.exec(["sleep", "5"], timeout=30)

            start = time.monotonic()
            threads = [threading.Thread(target=worker, args=(vm,)) for vm in (self.vm, other)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            both = time.monotonic() - start
        self.assertEqual([r.exit_code for r in results.values()], [0, 0])
        # Serialised they would take at least 10 s (2 x 5 s); running together,
        # one sleep plus overhead. The 4 s margin absorbs a loaded (sanitizer) host.
        self.assertLess(both, single + 4, "two VMs took %.2f s, one took %.2f s" % (both, single))

    def test_second_request_on_a_busy_vm_is_refused(self):
        errors = []
        started = threading.Event()

        def second():
            started.wait()
            time.sleep(0.5)
            try:
                self.vm.exec(["true"])
            except firerun.BadState as e:
                errors.append(e)

        t = threading.Thread(target=second)
        t.start()
        started.set()
        r = self.vm.exec(["sleep", "2"], timeout=30)
        t.join()
        self.assertEqual(r.exit_code, 0)
        self.assertEqual(len(errors), 1)
        self.assertIn("in flight", str(errors[0]))


class LifecycleTest(unittest.TestCase):
    def test_context_manager_stops_and_leaves_no_qemu(self):
        before = set(qemu_children())
        with firerun.Vm(image=python_image(), memory_mib=256) as vm:
            self.assertEqual(vm.state, "running")
            pid = vm.info.vmm_pid
            self.assertIn(pid, qemu_children())
            self.assertEqual(vm.exec(["echo", "inside"]).stdout, b"inside\n")
        self.assertEqual(vm.state, "stopped")
        self.assertEqual(set(qemu_children()) - before, set())
        self.assertFalse(os.path.exists("/proc/%d" % pid), "QEMU process %d still exists" % pid)
        with self.assertRaises(firerun.BadState):
            vm.exec(["true"])
        self.assertIn("firerun-agent", vm.console_log)
        self.assertEqual(vm.wait().reason, "stopped")

    def test_exception_in_with_block_still_stops(self):
        before = set(qemu_children())
        with self.assertRaises(ZeroDivisionError):
            with firerun.Vm(image=python_image()) as vm:
                1 / 0
        self.assertEqual(vm.state, "stopped")
        self.assertEqual(set(qemu_children()) - before, set())

    def test_close_kills_running_vm(self):
        vm = firerun.Vm(image=python_image())
        vm.start()
        pid = vm.info.vmm_pid
        vm.close()
        self.assertFalse(os.path.exists("/proc/%d" % pid))
        with self.assertRaises(firerun.BadState):
            vm.exec(["true"])

    def test_run_helper(self):
        r = firerun.run(["sh", "-c", "echo $((6*7))"], image="python", cache=CACHE, timeout=30)
        self.assertEqual(r.stdout, b"42\n")


class ImageTest(unittest.TestCase):
    def test_build_image_reuses_cache_and_reports_progress(self):
        # The images fixture built it already: this resolves with apt and reuses the entry.
        stages = []

        def progress(stage, fraction):
            stages.append(stage)
            if stage == "cached":
                raise RuntimeError("stop reporting")

        with self.assertRaisesRegex(RuntimeError, "stop reporting"):
            firerun.build_image("python", cache=CACHE, progress=progress)
        self.assertEqual(stages[0], "resolving")
        self.assertEqual(stages[-1], "cached")
        img = python_image()
        self.assertTrue(img.kernel.is_file())
        self.assertTrue(img.initrd.is_file())
        self.assertIn("rdinit=", img.cmdline)
        with self.assertRaises(firerun.NotFound):
            firerun.find_image("python", CACHE, agent="/bin/true")  # built with another agent


if __name__ == "__main__":
    unittest.main()
