int th_dummy;
