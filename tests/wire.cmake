nox_unit_test(test_wire)
nox_unit_test(test_quantity)
