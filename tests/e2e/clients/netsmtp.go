// netsmtp.go: sends one message with Go's net/smtp (the standard library's client),
// as a Go service would: smtp.SendMail(addr, nil, from, to, msg) with no AUTH, since
// the sidecar identifies its caller by the kernel.
// Usage: go run netsmtp.go HOST:PORT FROM TO SUBJECT
package main

import (
	"fmt"
	"net/smtp"
	"os"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: netsmtp HOST:PORT FROM TO SUBJECT")
		os.Exit(64)
	}
	addr, from, to, subject := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	msg := []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nfrom Go net/smtp\r\n")
	if err := smtp.SendMail(addr, nil, from, []string{to}, msg); err != nil {
		fmt.Fprintln(os.Stderr, "SendMail:", err)
		os.Exit(1)
	}
}
