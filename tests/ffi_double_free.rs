//! A double free through the C API is detected in debug builds (issue 10 item 10): the second
//! `_free` is ignored and explained in `yoton_last_error` instead of corrupting memory (without
//! the check, glibc aborts the process with "free(): double free detected"). The test suite
//! runs in a debug build, where the check is on; release builds skip it (it costs a lock per
//! handle).
#![cfg(debug_assertions)]

use std::ffi::CStr;
use std::ptr;
use std::time::Duration;

use yoton::ffi::channel::{
    yoton_channel_pending, yoton_message_array_free, yoton_pub_send, yoton_sub_recv_all,
};
use yoton::ffi::connection::{yoton_connection_free, yoton_connection_port1};
use yoton::ffi::context::{
    yoton_context_bind, yoton_context_connect, yoton_context_free, yoton_context_new,
};
use yoton::ffi::message::yoton_message_free;
use yoton::ffi::value::{
    yoton_value_append, yoton_value_free, yoton_value_item, yoton_value_new_int,
    yoton_value_new_list,
};
use yoton::ffi::yoton_last_error;

fn last_error() -> String {
    unsafe { CStr::from_ptr(yoton_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn second_free_is_ignored_and_reported() {
    // Values (Box), contexts (Box) and messages (Arc, pooled).
    let v = yoton_value_new_int(7);
    yoton_value_free(v);
    yoton_value_free(v);
    assert!(last_error().contains("freed already"), "{}", last_error());

    // Two linked contexts (a context does not deliver to itself).
    let mut ctx = ptr::null_mut();
    let mut other = ptr::null_mut();
    assert_eq!(yoton_context_new(&mut ctx), 0);
    assert_eq!(yoton_context_new(&mut other), 0);
    let (mut bound, mut connected) = (ptr::null_mut(), ptr::null_mut());
    assert_eq!(
        yoton_context_bind(ctx, c"localhost:0".as_ptr(), 1, ptr::null(), &mut bound),
        0
    );
    let mut port = 0u16;
    assert_eq!(yoton_connection_port1(bound, &mut port), 0);
    let address = std::ffi::CString::new(format!("localhost:{port}")).unwrap();
    assert_eq!(
        yoton_context_connect(other, address.as_ptr(), 5.0, ptr::null(), &mut connected),
        0
    );
    let mut publisher = ptr::null_mut();
    let mut subscriber = ptr::null_mut();
    let base = c"double".as_ptr();
    assert_eq!(
        yoton::ffi::channel::yoton_pub_new(other, base, ptr::null(), &mut publisher),
        0
    );
    assert_eq!(
        yoton::ffi::channel::yoton_sub_new(ctx, base, ptr::null(), &mut subscriber),
        0
    );
    for _ in 0..2 {
        assert_eq!(yoton_pub_send(publisher, c"x".as_ptr().cast(), 1), 0);
    }
    // Both messages arrive; then take them in one array.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut pending = 0usize;
    while pending < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        assert_eq!(yoton_channel_pending(subscriber, &mut pending), 0);
    }
    let mut array: *mut *mut yoton::ffi::message::yoton_message = ptr::null_mut();
    let mut count = 0usize;
    assert_eq!(yoton_sub_recv_all(subscriber, &mut array, &mut count), 0);
    assert_eq!(count, 2);
    // A message freed on its own, then again through its array.
    let first = unsafe { *array };
    yoton_message_free(first);
    yoton_message_free(first);
    assert!(last_error().contains("freed already"), "{}", last_error());
    yoton_message_array_free(array, count); // frees the second; the first is reported again
    yoton_message_array_free(array, count); // the array itself: reported, ignored
    assert!(last_error().contains("freed already"), "{}", last_error());

    // A borrowed child was never made to be freed.
    let list = yoton_value_new_list();
    let item = yoton_value_new_int(1);
    assert_eq!(yoton_value_append(list, item), 0);
    let mut child = ptr::null();
    assert_eq!(yoton_value_item(list, 0, &mut child), 0);
    yoton_value_free(child.cast_mut());
    assert!(
        last_error().contains("not made by yoton"),
        "{}",
        last_error()
    );
    yoton_value_free(item);
    yoton_value_free(list);

    yoton::ffi::channel::yoton_channel_free(publisher);
    yoton::ffi::channel::yoton_channel_free(subscriber);
    yoton_connection_free(bound);
    yoton_connection_free(connected);
    yoton_context_free(other);
    yoton_context_free(ctx);
    yoton_context_free(ctx);
    assert!(last_error().contains("yoton_context"), "{}", last_error());
}
