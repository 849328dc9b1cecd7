jzx_add_test(actor)
jzx_add_test(async THREADED TIMEOUT 180)
jzx_add_test(io)
jzx_add_test(wake THREADED)
