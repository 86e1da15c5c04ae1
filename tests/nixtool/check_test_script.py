"""Checks one rendered NixOS test script (tests/nix_test_scripts.rs): it must be valid Python,
and every call on a machine, and every bare function call, must be one the NixOS test driver
provides, with parameters it accepts.

Reads JSON {"file", "script", "nodes"} on stdin; prints one problem per line ("FILE: ...") and
exits 1 when there is any.

The driver's API, recorded from NixOS/nixpkgs:
  * machine methods: nixos/lib/test-driver/src/test_driver/machine/__init__.py
    @ 019697db058b6738eda0cb2cdcc9f5c014c914cb, classes BaseMachine and QemuMachine (every
    node of these tests is a QEMU VM; `create_machine` builds a QemuMachine);
  * script globals: nixos/lib/test-driver/src/test_driver/driver.py
    @ 003d58163f469fbeb0d51e4ef8d46af622759627, Driver.test_symbols (plus one symbol per node,
    and `machine` when there is exactly one).
Each entry maps a name to its parameters after `self`; "*" marks a `*args` parameter.
"""

import ast
import builtins
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

MACHINE_METHODS = {
    # BaseMachine
    "log": ["msg"],
    "nested": ["msg", "attrs"],
    "is_up": [],
    "start": ["allow_reboot"],  # QemuMachine.start
    "wait_for_shutdown": [],
    "systemctl": ["q", "user"],
    "wait_for_unit": ["unit", "user", "timeout"],
    "get_unit_info": ["unit", "user"],
    "get_unit_property": ["unit", "property", "user"],
    "require_unit_state": ["unit", "require_state"],
    "succeed": ["*", "timeout"],
    "fail": ["*", "timeout"],
    "wait_until_succeeds": ["command", "timeout"],
    "wait_until_fails": ["command", "timeout"],
    "sleep": ["secs"],
    "wait_for_file": ["filename", "timeout"],
    "wait_for_open_port": ["port", "addr", "timeout"],
    "wait_for_open_unix_socket": ["addr", "is_datagram", "timeout"],
    "wait_for_closed_port": ["port", "addr", "timeout"],
    "start_job": ["jobname", "user"],
    "stop_job": ["jobname", "user"],
    "execute": ["command", "check_return", "check_output", "timeout"],
    "copy_from_machine": ["source", "target_dir"],
    "copy_from_host_via_shell": ["source", "target"],
    "copy_from_host": ["source", "target"],
    # QemuMachine
    "send_monitor_command": ["command"],
    "get_tty_text": ["tty"],
    "wait_until_tty_matches": ["tty", "regexp", "timeout"],
    "dump_tty_contents": ["tty"],
    "wait_for_qmp_event": ["event_filter", "timeout"],
    "send_chars": ["chars", "delay"],
    "connect": [],
    "screenshot": ["filename"],
    "get_screen_text_variants": [],
    "get_screen_text": [],
    "wait_for_text": ["regex", "timeout"],
    "wait_for_console_text": ["regex", "timeout"],
    "get_console_log": [],
    "send_key": ["key", "delay", "log"],
    "send_console": ["chars"],
    "shutdown": [],
    "crash": [],
    "reboot": [],
    "wait_for_x": ["timeout"],
    "get_window_names": [],
    "wait_for_window": ["regexp", "timeout"],
    "forward_port": ["host_port", "guest_port"],
    "block": [],
    "unblock": [],
    "release": [],
    "switch_root": [],
}

# Driver.test_symbols; `create_machine`'s parameters after `*` are keyword-only.
GLOBAL_FUNCTIONS = {
    "start_all": [],
    "test_script": [],
    "create_machine": ["start_command", "/", "name", "keep_machine_state"],
    "subtest": ["name"],
    "run_tests": [],
    "join_all": [],
    "retry": ["fn", "timeout_seconds"],
    "serial_stdout_off": [],
    "serial_stdout_on": [],
    "polling_condition": ["fun_", "/", "seconds_interval", "description"],
}
GLOBAL_VALUES = {"machines_qemu", "machines_nspawn", "vlans", "driver", "log", "os",
                 "BaseMachine", "t", "debug"}


def pythonize(name):
    # driver.py pythonize_name
    return re.sub(r"^[^A-Za-z_]|[^A-Za-z0-9_]", "_", name)


class Checker(ast.NodeVisitor):
    def __init__(self, nodes):
        self.machines = {pythonize(n) for n in nodes}
        if len(nodes) == 1:
            self.machines.add("machine")
        self.lists = set()  # names bound to lists/tuples of machines
        self.dicts = set()  # names bound to dicts whose values are machines
        self.defined = set(dir(builtins)) | GLOBAL_VALUES | set(GLOBAL_FUNCTIONS)
        self.problems = []

    def is_machine(self, e):
        if isinstance(e, ast.Name):
            return e.id in self.machines
        if isinstance(e, ast.Subscript):
            return (isinstance(e.value, ast.Name) and e.value.id in self.dicts | self.lists) or (
                isinstance(e.value, (ast.ListComp, ast.List)) and self.is_machine_seq(e.value))
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Name):
            return e.func.id == "create_machine"
        return False

    def is_machine_seq(self, e):
        if isinstance(e, (ast.List, ast.Tuple)):
            return bool(e.elts) and all(self.is_machine(x) for x in e.elts)
        if isinstance(e, ast.Name):
            return e.id in self.lists
        if isinstance(e, ast.ListComp):
            return self.with_generators(e.generators, lambda: self.is_machine(e.elt))
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute):
            return (e.func.attr == "values" and isinstance(e.func.value, ast.Name)
                    and e.func.value.id in self.dicts)
        return False

    def bind_loop(self, target, it):
        """Marks loop targets that take machines from `it`."""
        if isinstance(target, ast.Name) and self.is_machine_seq(it):
            self.machines.add(target.id)
            return [target.id]
        items = (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute)
                 and it.func.attr == "items" and isinstance(it.func.value, ast.Name)
                 and it.func.value.id in self.dicts)
        if items and isinstance(target, ast.Tuple) and len(target.elts) == 2:
            v = target.elts[1]
            if isinstance(v, ast.Name):
                self.machines.add(v.id)
                return [v.id]
        return []

    def with_generators(self, gens, f):
        added = []
        for g in gens:
            added += self.bind_loop(g.target, g.iter)
        try:
            return f()
        finally:
            for n in added:
                self.machines.discard(n)

    def visit_Assign(self, node):
        self.generic_visit(node)
        for tgt in node.targets:
            for n in ast.walk(tgt):
                if isinstance(n, ast.Name):
                    self.defined.add(n.id)
            if not isinstance(tgt, ast.Name):
                continue
            v = node.value
            if self.is_machine(v):
                self.machines.add(tgt.id)
            elif self.is_machine_seq(v):
                self.lists.add(tgt.id)
            elif isinstance(v, ast.Dict) and v.values and all(self.is_machine(x) for x in v.values):
                self.dicts.add(tgt.id)

    def visit_For(self, node):
        self.visit(node.iter)
        self.bind_loop(node.target, node.iter)
        for n in ast.walk(node.target):
            if isinstance(n, ast.Name):
                self.defined.add(n.id)
        for s in node.body + node.orelse:
            self.visit(s)

    def visit_ListComp(self, node):
        for g in node.generators:
            for n in ast.walk(g.target):
                if isinstance(n, ast.Name):
                    self.defined.add(n.id)
        self.with_generators(node.generators, lambda: self.generic_visit(node))

    def visit_Import(self, node):
        for a in node.names:
            self.defined.add((a.asname or a.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_FunctionDef(self, node):
        self.defined.add(node.name)
        for a in node.args.args + node.args.kwonlyargs:
            self.defined.add(a.arg)
        self.generic_visit(node)

    def check_args(self, what, params, node):
        positional = [p for p in params if p != "/"]
        if "/" in params:
            positional = params[: params.index("/")]
        star = "*" in positional
        named = [p for p in params if p not in ("*", "/")]
        if not star and len(node.args) > len(positional):
            self.problems.append(
                f"line {node.lineno}: {what} takes at most {len(positional)} positional "
                f"argument(s), got {len(node.args)}")
        for k in node.keywords:
            if k.arg is not None and k.arg not in named:
                self.problems.append(
                    f"line {node.lineno}: {what} has no parameter `{k.arg}` (it takes {named})")

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Attribute) and self.is_machine(f.value):
            if f.attr not in MACHINE_METHODS:
                self.problems.append(
                    f"line {node.lineno}: machine method `{f.attr}` does not exist in the test driver")
            else:
                self.check_args(f"machine.{f.attr}", MACHINE_METHODS[f.attr], node)
        elif isinstance(f, ast.Name):
            if f.id in GLOBAL_FUNCTIONS:
                self.check_args(f.id, GLOBAL_FUNCTIONS[f.id], node)
            elif f.id not in self.defined:
                self.problems.append(
                    f"line {node.lineno}: `{f.id}` is neither a test-driver global, a Python "
                    "builtin nor defined in the script")
        self.generic_visit(node)


def pyflakes(name, script, nodes):
    """The driver's lint (nixos/lib/testing/driver.nix): pyflakes with the node names and the
    driver's symbols as builtins. Returns its complaints, or None without pyflakes3."""
    tool = shutil.which("pyflakes3")
    if tool is None:
        return None
    names = {pythonize(n) for n in nodes} | set(GLOBAL_FUNCTIONS) | GLOBAL_VALUES
    if len(nodes) == 1:
        names.add("machine")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
    try:
        env = dict(os.environ, PYFLAKES_BUILTINS=",".join(sorted(names)))
        r = subprocess.run([tool, f.name], capture_output=True, text=True, env=env)
    finally:
        os.unlink(f.name)
    return [f"{name}: pyflakes: " + line.split(":", 1)[1].strip()
            for line in (r.stdout + r.stderr).splitlines() if line.strip()]


def main():
    data = json.load(sys.stdin)
    name, script = data["file"], data["script"]
    try:
        tree = ast.parse(script, filename=name)
    except SyntaxError as e:
        # The line from the rendered script itself, not from a file of that name.
        lines = script.splitlines()
        line = lines[e.lineno - 1].strip() if e.lineno and e.lineno <= len(lines) else ""
        print(f"{name}: testScript is not valid Python: line {e.lineno}: {e.msg}: {line}")
        sys.exit(1)
    c = Checker(data["nodes"])
    c.visit(tree)
    problems = [f"{name}: {p}" for p in c.problems]
    lint = pyflakes(name, script, data["nodes"])
    if lint is None:
        print("skipping the pyflakes lint: pyflakes3 not found (Debian package pyflakes3)",
              file=sys.stderr)
    else:
        problems += lint
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


main()
