"""The ctypes mirror in jzx/_ffi.py against the committed ABI baseline
(abi/libjzx.so.0.abi, written by abidw from the library's DWARF): every
public struct with the same size, field names, offsets and field sizes, every
exported function declared, every enum constant with the same value."""

import ctypes
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

import jzx
from jzx import _ffi

BASELINE = Path(__file__).resolve().parents[3] / "abi" / "libjzx.so.0.abi"

ENUMS = {  # C enum -> (Python enum, prefix of its constants)
    "jzx_err": (jzx.Err, "JZX_ERR_"),
    "jzx_drop_reason": (jzx.DropReason, "JZX_DROP_"),
    "jzx_behavior_result": (jzx.Result, "JZX_BEHAVIOR_"),
    "jzx_actor_status": (jzx.ActorStatus, "JZX_ACTOR_"),
    "jzx_exit_reason": (jzx.ExitReason, "JZX_EXIT_"),
    "jzx_child_mode": (jzx.ChildMode, "JZX_CHILD_"),
    "jzx_supervisor_strategy": (jzx.Strategy, "JZX_SUP_"),
    "jzx_backoff_type": (jzx.Backoff, "JZX_BACKOFF_"),
}


class Baseline:
    def __init__(self, path):
        self.root = ET.parse(path).getroot()
        self.by_id = {e.get("id"): e for e in self.root.iter() if e.get("id")}

    def definitions(self, tag):
        """name -> element, for the full definitions (not declarations)."""
        return {
            e.get("name"): e
            for e in self.root.iter(tag)
            if e.get("name", "").startswith("jzx_") and e.get("is-declaration-only") != "yes"
        }

    def size_bits(self, type_id):
        e = self.by_id[type_id]
        if e.get("size-in-bits"):
            return int(e.get("size-in-bits"))
        if e.tag == "enum-decl":
            return self.size_bits(e.find("underlying-type").get("type-id"))
        return self.size_bits(e.get("type-id"))  # typedef, qualified type


class AbiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.abi = Baseline(BASELINE)

    def test_every_public_struct_is_mirrored(self):
        mirrored = {s.__name__ for s in _ffi.STRUCTS}
        self.assertEqual(set(self.abi.definitions("class-decl")), mirrored)

    def test_struct_layouts_match(self):
        structs = self.abi.definitions("class-decl")
        for cls in _ffi.STRUCTS:
            with self.subTest(struct=cls.__name__):
                c = structs[cls.__name__]
                self.assertEqual(ctypes.sizeof(cls) * 8, int(c.get("size-in-bits")))
                c_fields = [
                    (m.find("var-decl").get("name"), int(m.get("layout-offset-in-bits")),
                     self.abi.size_bits(m.find("var-decl").get("type-id")))
                    for m in c.iter("data-member")
                ]
                py_fields = [
                    (name, getattr(cls, name).offset * 8, getattr(cls, name).size * 8)
                    for name, _ in cls._fields_
                ]
                self.assertEqual(py_fields, c_fields)

    def test_every_exported_function_is_declared(self):
        symbols = {
            (s.get("name"), s.get("version"))
            for s in self.abi.root.find("elf-function-symbols").iter("elf-symbol")
        }
        self.assertEqual({name for name, _ in symbols}, set(_ffi.PROTOTYPES))
        self.assertEqual({version for _, version in symbols}, {"JZX_0.1"})

    def test_function_arity_matches(self):
        for fn in self.abi.root.iter("function-decl"):
            with self.subTest(function=fn.get("name")):
                params = fn.findall("parameter")
                if len(params) == 1 and params[0].get("type-id") is None:
                    params = []  # (void)
                self.assertEqual(len(params), len(_ffi.PROTOTYPES[fn.get("name")][1]))

    def test_enum_values_match(self):
        enums = self.abi.definitions("enum-decl")
        self.assertEqual(set(enums), set(ENUMS))
        for c_name, (py_enum, prefix) in ENUMS.items():
            with self.subTest(enum=c_name):
                c_values = {
                    e.get("name"): int(e.get("value")) for e in enums[c_name].iter("enumerator")
                }
                py_values = {
                    ("JZX_OK" if m.name == "OK" and py_enum is jzx.Err else prefix + m.name): m.value
                    for m in py_enum
                }
                self.assertEqual(py_values, c_values)


if __name__ == "__main__":
    unittest.main()
