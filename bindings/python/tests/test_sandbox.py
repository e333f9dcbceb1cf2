"""run_code (one-shot and on a running VM) against real VMs from $FIRERUN_TEST_CACHE."""

import os
import unittest

import firerun

CACHE = os.environ.get("FIRERUN_TEST_CACHE")


class OneShotTest(unittest.TestCase):
    def test_python_with_files_args_stdin(self):
        code = ("import sys, helper\n"
                "print(helper.VALUE, sys.argv[1:], sys.stdin.read().upper())\n"
                "print('warn', file=sys.stderr)\n")
        r = firerun.run_code("py", code, files={"helper.py": "VALUE = 42\n"}, args=["a", "b"],
                             stdin="shout", timeout=30, cache=CACHE)
        self.assertEqual(r.language, "python")
        self.assertEqual(r.phase, "run")
        self.assertTrue(r.version)
        self.assertEqual(r.exec.exit_code, 0, r.exec.stderr)
        self.assertEqual(r.exec.stdout, b"42 ['a', 'b'] SHOUT\n")
        self.assertEqual(r.exec.stderr, b"warn\n")

    def test_python_error_and_timeout_are_results(self):
        r = firerun.run_code("python", "def f(:\n", timeout=30, cache=CACHE)
        self.assertEqual(r.exec.exit_code, 1)
        self.assertIn(b"SyntaxError", r.exec.stderr)
        slow = firerun.run_code("python", "import time; time.sleep(60)", timeout=1, cache=CACHE)
        self.assertTrue(slow.exec.timed_out)


class OnRunningVmTest(unittest.TestCase):
    def test_two_requests_in_one_vm(self):
        img = firerun.find_image(firerun.find_language("python").image, CACHE)
        with firerun.Vm(image=img, memory_mib=512) as vm:
            first = vm.run_code("python", "print(sum(range(10)))", timeout=30)
            second = vm.run_code("python", "import os; print(os.getcwd().startswith('/tmp/firerun-work-'))",
                                 timeout=30)
            self.assertEqual(first.exec.stdout, b"45\n")
            self.assertEqual(second.exec.stdout, b"True\n")
            with self.assertRaises(firerun.InvalidArgument):
                vm.run_code("python", "print(1)", env={"BAD KEY": "x"})


if __name__ == "__main__":
    unittest.main()
