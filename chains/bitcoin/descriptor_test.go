package bitcoin

// The BIP-380 character sets, spelled out again for the independent checker descsumCheck and the fuzz
// test; the implementation's copies live in package hd.
const (
	descInputCharset    = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
	descChecksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
)
