# One line per test file (one CMocka group each).
jzx_add_test(smoke)
