import pytest

from cxrvlp.registry import Registry


def test_register_get_names_and_errors():
    reg: Registry[type] = Registry("thing")

    @reg.register("b")
    class B: ...

    reg.add("a", int)
    assert reg.get("b") is B and reg.names() == ["a", "b"] and "a" in reg and len(reg) == 2
    assert reg.registration_order() == ["b", "a"]
    with pytest.raises(KeyError, match="already registered"):
        reg.add("a", float)
    with pytest.raises(KeyError, match="valid names: a, b"):
        reg.get("c")
