jzx_add_test(actor)
