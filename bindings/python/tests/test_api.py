"""The firerun Python API without booting a VM: errors, argument checks, data."""

import os
import tempfile
import unittest

import firerun


class ErrorHierarchyTest(unittest.TestCase):
    def test_every_code_maps_to_its_class(self):
        expected = {
            "invalid_argument": (firerun.InvalidArgument, ValueError),
            "not_found": (firerun.NotFound, LookupError),
            "unsupported": (firerun.Unsupported,),
            "timeout": (firerun.Timeout, TimeoutError),
            "cancelled": (firerun.Cancelled,),
            "backend_failed": (firerun.BackendFailed,),
            "guest_failed": (firerun.GuestFailed,),
            "io": (firerun.HostIOError, OSError),
            "protocol": (firerun.ProtocolError,),
            "auth": (firerun.AuthError,),
            "limit_exceeded": (firerun.LimitExceeded,),
            "already_exists": (firerun.AlreadyExists,),
            "bad_state": (firerun.BadState,),
            "internal": (firerun.InternalError,),
        }
        for code, classes in expected.items():
            with self.subTest(code=code):
                with self.assertRaises(firerun.Error) as cm:
                    firerun._firerun._raise_error(code, "something broke")
                for cls in classes:
                    self.assertIsInstance(cm.exception, cls)
                self.assertEqual(cm.exception.code, code)
                self.assertEqual(cm.exception.message, "something broke")
                self.assertEqual(str(cm.exception), "something broke [%s]" % code)

    def test_unknown_code_is_invalid_argument(self):
        with self.assertRaises(firerun.InvalidArgument):
            firerun._firerun._raise_error("no_such_code", "x")

    def test_classes_are_distinct_and_named(self):
        self.assertEqual(firerun.Timeout.__module__, "firerun")
        self.assertFalse(issubclass(firerun.NotFound, firerun.BadState))
        self.assertTrue(issubclass(firerun.Error, Exception))


class SpecValidationTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.kernel = os.path.join(tmp.name, "vmlinuz")
        self.initrd = os.path.join(tmp.name, "initrd")
        for path in (self.kernel, self.initrd):
            with open(path, "wb") as f:
                f.write(b"\0" * 64)

    def test_missing_kernel(self):
        with self.assertRaises(firerun.InvalidArgument) as cm:
            firerun.Vm(initrd=self.initrd)
        self.assertIn("kernel", str(cm.exception))

    def test_bad_memory_and_vcpus(self):
        with self.assertRaisesRegex(firerun.InvalidArgument, "memory_mib"):
            firerun.Vm(self.kernel, self.initrd, memory_mib=1)
        with self.assertRaisesRegex(firerun.InvalidArgument, "vcpus"):
            firerun.Vm(self.kernel, self.initrd, vcpus=1000)
        # Also a ValueError, so generic callers can catch it.
        with self.assertRaises(ValueError):
            firerun.Vm(self.kernel, self.initrd, name="bad name!")

    def test_nonexistent_files(self):
        with self.assertRaises(firerun.Error):
            firerun.Vm("/nonexistent/vmlinuz", self.initrd)

    def test_bad_timeouts(self):
        for bad in (-1, float("nan"), float("inf")):
            with self.subTest(boot_timeout=bad), self.assertRaises(firerun.InvalidArgument):
                firerun.Vm(self.kernel, self.initrd, boot_timeout=bad)
        with self.assertRaises(TypeError):
            firerun.Vm(self.kernel, self.initrd, boot_timeout="10")

    def test_unknown_backend(self):
        with self.assertRaises(firerun.NotFound):
            firerun.Vm(self.kernel, self.initrd, backend="no-such-backend")

    def test_unstarted_vm(self):
        vm = firerun.Vm(self.kernel, self.initrd, name="py-api-unstarted")
        self.assertEqual(vm.state, "created")
        self.assertEqual(vm.id, "py-api-unstarted")
        self.assertIn("created", repr(vm))
        with self.assertRaises(firerun.BadState):
            vm.exec(["true"])
        with self.assertRaises(firerun.BadState):
            vm.read_file("/etc/hostname")
        with self.assertRaises(TypeError):
            vm.exec("echo hi")  # argv must be a list, not a string
        with self.assertRaises(firerun.InvalidArgument):
            vm.exec([])
        with self.assertRaises(firerun.InvalidArgument):
            vm.exec(["true"], timeout=-5)
        with self.assertRaises(TypeError):
            vm.write_file("/tmp/x", 42)
        vm.close()
        self.assertTrue(vm.closed)
        with self.assertRaisesRegex(firerun.BadState, "closed"):
            vm.state
        vm.close()  # idempotent

    def test_explicit_runtime(self):
        rt = firerun.Runtime()
        vm = firerun.Vm(self.kernel, self.initrd, runtime=rt)
        self.assertIs(vm.runtime, rt)
        self.assertIs(firerun.default_runtime(), firerun.default_runtime())
        del vm


class DataTest(unittest.TestCase):
    def test_languages(self):
        names = {lang.name for lang in firerun.languages()}
        self.assertTrue({"python", "bash"} <= names, names)
        py = firerun.find_language("py")
        self.assertEqual(py.name, "python")
        self.assertEqual(py.image, "python")
        self.assertTrue(py.source_file)
        with self.assertRaises(firerun.NotFound):
            firerun.find_language("cobol")

    def test_recipes_and_missing_image(self):
        self.assertIn("python", firerun.recipes())
        with tempfile.TemporaryDirectory() as empty:
            with self.assertRaises(firerun.NotFound):
                firerun.find_image("python", empty)
        self.assertTrue(str(firerun.default_cache_root()).endswith("firerun"))

    def test_run_code_rejects_bad_requests_before_booting(self):
        with self.assertRaises(firerun.InvalidArgument):
            firerun.run_code("python", "print(1)", timeout=0)
        with self.assertRaises(firerun.InvalidArgument):
            firerun.run_code("python", "print(1)", files={"../escape": "x"})
        with self.assertRaises(firerun.Error):
            firerun.run_code("cobol", "DISPLAY 'HI'.")


if __name__ == "__main__":
    unittest.main()
