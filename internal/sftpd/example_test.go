package sftpd_test

import (
	"fmt"

	"github.com/brazesync/brazesync/internal/sftpd"
)

func ExampleUserDir() {
	dir, err := sftpd.UserDir("/var/lib/brazesync", "acct-1234", "acct-1234-k3x9qa")
	fmt.Println(dir, err)
	_, err = sftpd.UserDir("/var/lib/brazesync", "../etc", "x")
	fmt.Println(err)
	// Output:
	// /var/lib/brazesync/sftp/acct-1234/acct-1234-k3x9qa <nil>
	// user directory of account "../etc": sftpd: invalid account id
}
