#coding:utf-8
 
import squall.web
import squall.httpserver
import squall.options
import squall.ioloop
 
from squall.options import options , define
define("port",default=8001,help="跑在8001",type=int)
 
import time
class SleepHandler(squall.web.RequestHandler):
    def get(self):
        time.sleep(10)
        self.write("this is SleepHandler...")
 
class DirectHandler(squall.web.RequestHandler):
    def get(self):
        self.write("this is DirectHandler...")
 
if __name__ == "__main__":
    squall.options.parse_command_line()
    app = squall.web.Application(
        handlers = [
            (r"/d",DirectHandler),
            (r"/s",SleepHandler),
        ],
        debug = False
    )
    http_server = squall.httpserver.HTTPServer(app)
    http_server.bind(options.port)
    http_server.start(0)
    # [I 150610 10:42:05 process:115] Starting 4 processes
    squall.ioloop.IOLoop.instance().start()
